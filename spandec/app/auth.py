"""Who is using the app and what they may do: a users file with hashed passwords and roles, or Hugging Face OAuth.

Three modes, one rule set (:class:`Access`):

* **open** (the default): no logins; the annotator is the name typed in the page, everyone may do everything.
  The app then binds to loopback unless told otherwise (:func:`bind_message` warns when it is not).
* **file** (``python app.py --auth users.json``): Gradio's login form checks names and passwords against the file
  (:func:`check_password`: scrypt with a per-user salt); the annotator is the logged-in user and only ``admin``
  users may create projects, export annotations, score the queue and fine-tune.
* **oauth** (on a Hugging Face Space with ``hf_oauth: true``, i.e. ``SPACE_ID`` and ``OAUTH_CLIENT_ID`` set): the
  annotator is the Hugging Face profile name of the session (``gr.LoginButton``); admins are the names in
  ``$SPANDEC_ADMINS`` (comma separated). Off when those variables are not set, so never on locally.

Every check runs in the server's handlers (:meth:`Access.annotator`, :meth:`Access.require_admin`): a hidden button
or a crafted API call gets the same answer.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import ipaddress
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .context import InputError

__all__ = ["ROLES", "Access", "api_signature", "add_user", "read_users", "check_password", "oauth_configured",
           "bind_message"]

ROLES = ("annotator", "admin")
_NAME = re.compile(r"^[^\s:/\\]{1,200}$")
_SCRYPT = dict(n=2 ** 14, r=8, p=1, dklen=32)  # about 50 ms a login on one core; 16 MiB of memory


def _hash(password: str, salt: bytes, params: dict[str, int]) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, maxmem=64 * 1024 * 1024, **params)


def read_users(path: str | Path) -> dict[str, dict[str, Any]]:
    """The users of a users file (name -> record); ValueError naming the file when it is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such users file (create it with `spandec users add {path} NAME`).") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a users file ({exc}).") from None
    users = data.get("users") if isinstance(data, dict) else None
    if not isinstance(users, dict):
        raise ValueError(f"{path}: not a users file (expected {{\"users\": {{NAME: {{...}}}}}}).")
    for name, rec in users.items():
        if not (isinstance(rec, dict) and rec.get("role") in ROLES and rec.get("kdf") == "scrypt"
                and isinstance(rec.get("salt"), str) and isinstance(rec.get("hash"), str)):
            raise ValueError(f"{path}: the entry of user {name!r} is damaged (role, kdf, salt and hash expected).")
    return users


def add_user(path: str | Path, name: str, password: str, role: str = "annotator") -> bool:
    """Add ``name`` (or replace their password and role) in the users file; True when the user is new."""
    name = str(name or "").strip()
    if not _NAME.match(name):
        raise ValueError(f"User name {name!r}: 1-200 characters without spaces, ':', '/' or '\\'.")
    if role not in ROLES:
        raise ValueError(f"Unknown role {role!r}; choose {' or '.join(ROLES)}.")
    if len(password or "") < 8:
        raise ValueError("The password needs at least 8 characters.")
    path = Path(path)
    users = read_users(path) if path.exists() else {}
    salt = secrets.token_bytes(16)
    new = name not in users
    users[name] = {"role": role, "kdf": "scrypt", **{k: _SCRYPT[k] for k in ("n", "r", "p")},
                   "salt": salt.hex(), "hash": _hash(password, salt, _SCRYPT).hex()}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"users": users}, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return new


def check_password(users: dict[str, dict[str, Any]], name: str, password: str) -> bool:
    """Whether ``password`` is ``name``'s (constant time; an unknown name costs the same hash)."""
    rec = users.get(name)
    params = {k: int(rec.get(k, _SCRYPT[k])) for k in ("n", "r", "p")} if rec else {k: _SCRYPT[k] for k in "nrp"}
    salt = bytes.fromhex(rec["salt"]) if rec else b"\0" * 16
    got = _hash(password or "", salt, {**params, "dklen": _SCRYPT["dklen"]})
    return rec is not None and hmac.compare_digest(got, bytes.fromhex(rec["hash"]))


def oauth_configured(env: dict[str, str] | None = None) -> bool:
    """True on a Hugging Face Space whose README front matter has ``hf_oauth: true`` (never locally)."""
    env = os.environ if env is None else env
    return bool(env.get("SPACE_ID") and env.get("OAUTH_CLIENT_ID"))


def _oauth_name(request: Any) -> str | None:
    """The Hugging Face user name of a request's session (None: not logged in)."""
    from gradio import oauth

    try:
        info = oauth._get_valid_oauth_info_from_session(request.session)
    except (AssertionError, AttributeError, KeyError):  # no session middleware: OAuth is not attached
        return None
    return (info or {}).get("userinfo", {}).get("preferred_username") if info else None


@dataclass
class Access:
    """The app's login mode and its rules: who the annotator of a request is, who may manage projects."""

    mode: str = "open"  # open | file | oauth
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    admins: frozenset[str] = frozenset()

    @classmethod
    def from_options(cls, auth_file: str | None, env: dict[str, str] | None = None) -> "Access":
        """``--auth FILE`` (a users file), else OAuth on a Space configured for it, else open."""
        env = os.environ if env is None else env
        if auth_file:
            users = read_users(auth_file)
            if not any(r["role"] == "admin" for r in users.values()):
                print(f"app.py: note: {auth_file} has no admin: no one can create projects or export.")
            return cls("file", users)
        if oauth_configured(env):
            return cls("oauth", admins=frozenset(x for x in re.split(r"[\s,]+", env.get("SPANDEC_ADMINS", "")) if x))
        return cls()

    @property
    def on(self) -> bool:
        """Whether users log in (the annotator is then the logged-in user)."""
        return self.mode != "open"

    def login(self, name: str, password: str) -> bool:
        """Gradio's ``auth`` callable for the users file."""
        return self.mode == "file" and check_password(self.users, name, password)

    def user(self, request: Any) -> str | None:
        """The logged-in user of a request (None: nobody, or logins are off)."""
        if self.mode == "file":
            return getattr(request, "username", None) or None
        if self.mode == "oauth":
            return _oauth_name(request)
        return None

    def annotator(self, request: Any, typed: Any) -> Any:
        """The annotator a request acts as: the logged-in user with logins on (a different typed name is refused),
        else the typed name."""
        if not self.on:
            return typed
        user = self.user(request)
        if not user:
            raise InputError("Log in first (the button at the top of the Annotate tab).")
        typed = str(typed or "").strip()
        if typed and typed != user:
            raise InputError(f"You are logged in as {user}; you cannot work as {typed}.")
        return user

    def is_admin(self, request: Any) -> bool:
        """Whether the request may create projects, export, score and fine-tune (anyone when logins are off)."""
        if not self.on:
            return True
        user = self.user(request)
        if self.mode == "file":
            return bool(user) and self.users.get(user, {}).get("role") == "admin"
        return bool(user) and user in self.admins

    def as_user(self, fn: Callable, request_type: type, api: Callable) -> Callable:
        """``fn(project, annotator, *args)`` called as the request's annotator (:meth:`annotator`), its parameters
        (for the API) those of the queue action ``api``, plus a last ``request`` of ``request_type``."""
        def call(project, annotator, *args):
            *args, request = args
            return fn(project, self.annotator(request, annotator), *args)

        call.__signature__, call.__annotations__ = api_signature(api, request_type)
        return call

    def admin_only(self, fn: Callable, what: str, request_type: type) -> Callable:
        """``fn`` behind :meth:`require_admin`: the same parameters, plus a ``request`` of ``request_type``."""
        def call(*args):
            request = next(a for a in args if isinstance(a, request_type))
            self.require_admin(request, what)
            return fn(*[a for a in args if a is not request])

        call.__signature__, call.__annotations__ = api_signature(fn, request_type, keep_all=True)
        return call

    def require_admin(self, request: Any, what: str) -> None:
        """InputError unless the request's user is an admin."""
        if not self.is_admin(request):
            who = self.user(request)
            raise InputError(f"Only an admin can {what}" + (f"; {who} is an annotator." if who else "; log in first."))


def api_signature(fn: Callable, request_type: type, keep_all: bool = False) -> tuple[inspect.Signature, dict]:
    """The signature and annotations of a callback for ``fn``, a ``request`` parameter of ``request_type`` added:
    for a queue action ``(project, annotator, its parameters after annotator, request)`` (the API's parameter
    names, all from components); with ``keep_all`` every parameter of ``fn``, the request before any default."""
    Param = inspect.Parameter
    params = list(inspect.signature(fn).parameters.values())
    if not keep_all:
        rest = params[[q.name for q in params].index("annotator") + 1:]
        params = [Param(n, Param.POSITIONAL_OR_KEYWORD) for n in ("project", "annotator", *[q.name for q in rest])]
    at = next((k for k, q in enumerate(params) if q.default is not Param.empty), len(params))
    request = Param("request", Param.POSITIONAL_OR_KEYWORD)
    return inspect.Signature(params[:at] + [request] + params[at:]), {"request": request_type}


def bind_message(host: str | None, access: Access, env: dict[str, str] | None = None) -> tuple[str, bool]:
    """The startup line about who can reach the app, and whether it is a warning (another address, no logins)."""
    env = os.environ if env is None else env
    host = host or env.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if access.on:
        how = "a users file" if access.mode == "file" else "Hugging Face OAuth"
        return f"Serving on {host} with logins ({how}): annotators work as themselves, admins manage projects.", False
    if loopback:
        return (f"Serving on {host} (this machine only) without logins; "
                "use --auth FILE before serving on another address."), False
    return (f"WARNING: serving on {host} WITHOUT LOGINS: anyone who reaches this address can work as any annotator, "
            "export every project and start fine-tuning. Start it with --auth FILE (see README).", True)
