"""Secrets in storage and tracking URLs: never printed, never written.

A URL such as ``postgresql://alignlab:s3cret@db:5432/studies`` carries a password. alignlab

- connects with the URL as given (the password stays in the process's memory);
- writes it *without* the password (:func:`strip`) wherever it is stored for later readers: the copy of
  the sweep file in studies/NAME/, the Optuna study attributes, the trials' run configs, MLflow params,
  tags and artifacts. A reader (``best``, ``compare``, ``report``, ``ui``) then connects as libpq does
  without a password in the URL: from ``$PGPASSWORD``, or ``~/.pgpass`` (``$PGPASSFILE``), lines
  ``host:port:database:user:password``;
- prints it masked (:func:`mask`: ``postgresql://alignlab:***@db:5432/studies``), and masks every
  password it has seen in this process in any text it prints (:func:`mask_text`), error messages included.

Query parameters that name a secret (``password``, ``token``, ...) are treated the same way.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

MASK = "***"

#: Query parameters of a URL that hold a secret.
SECRET_QUERY_KEYS = frozenset({"password", "passwd", "pwd", "token", "access_token", "api_key", "secret"})

_SEEN: set[str] = set()


def _split(url: str) -> tuple[str, str | None, str, str, list[tuple[str, str]], str, str] | None:
    """(scheme, user, password-or-None, host:port, query pairs, path, fragment), or None when not a URL."""
    if "://" not in url:
        return None
    parts = urlsplit(url)
    netloc = parts.netloc
    user: str | None = None
    password = ""
    if "@" in netloc:
        userinfo, netloc = netloc.rsplit("@", 1)
        user, sep, password = userinfo.partition(":")
        if not sep:
            password = ""
    query = parse_qsl(parts.query, keep_blank_values=True)
    return parts.scheme, user, password, netloc, query, parts.path, parts.fragment


def secrets_of(url: str | None) -> list[str]:
    """The secrets a URL carries: its password and the values of secret query parameters."""
    if not url:
        return []
    split = _split(url)
    if split is None:
        return []
    _, _, password, _, query, _, _ = split
    found = [unquote(password)] if password else []
    found += [v for k, v in query if k.lower() in SECRET_QUERY_KEYS and v]
    if password:
        found.append(password)  # as written (percent-encoded), too
    return [s for s in dict.fromkeys(found) if s]


def remember(url: str | None) -> None:
    """Note a URL's secrets so that :func:`mask_text` hides them in anything printed later."""
    _SEEN.update(secrets_of(url))


def _rebuild(url: str, replacement: str | None) -> str:
    split = _split(url)
    if split is None:
        return url
    scheme, user, password, hostport, query, path, fragment = split
    netloc = hostport
    if user is not None:
        userinfo = user if not password or replacement is None else f"{user}:{replacement}"
        netloc = f"{userinfo}@{hostport}"
    pairs = [
        (k, v if k.lower() not in SECRET_QUERY_KEYS else replacement or "")
        for k, v in query
        if k.lower() not in SECRET_QUERY_KEYS or replacement is not None
    ]
    text_query = urlencode(pairs, safe="/:*", quote_via=quote) if pairs else ""
    return urlunsplit((scheme, netloc, path, text_query, fragment))


def mask(url: str) -> str:
    """The URL for display: its password and secret query values replaced by ``***``."""
    remember(url)
    return _rebuild(url, MASK) if secrets_of(url) else url


def strip(url: str) -> str:
    """The URL to store: without its password and secret query parameters (libpq then reads
    ``$PGPASSWORD`` or ``~/.pgpass``)."""
    remember(url)
    return _rebuild(url, None) if secrets_of(url) else url


def mask_text(text: str) -> str:
    """``text`` with every secret this process has seen replaced by ``***``."""
    for secret in sorted(_SEEN, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
