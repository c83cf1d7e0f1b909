"""Request signing as Binance documents it: HMAC-SHA256 (hex) for API secrets, and Ed25519 or
RSA (PKCS#1 v1.5, SHA-256) for self-generated private keys (base64, then URL-encoded).

A signer turns the query string into the value of the `signature` parameter. It never exposes the
key material: reprs are fixed strings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from pydantic import SecretStr

from pmtui.errors import ConfigError


class Signer(Protocol):
    def sign(self, payload: str) -> str: ...


class HmacSigner:
    def __init__(self, secret: SecretStr | str) -> None:
        raw = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        self._key = raw.encode()

    def sign(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return "HmacSigner(<secret>)"


class _PrivateKeySigner:
    """Shared loading for the asymmetric key types; subclasses say how to sign bytes."""

    kind = "private"

    def __init__(self, key: Any) -> None:  # a cryptography private key of the subclass's kind
        self._key = key

    @classmethod
    def from_pem(cls, data: bytes, passphrase: bytes | None = None, path: Path | None = None) -> _PrivateKeySigner:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        named = f" {path}" if path is not None else ""
        if _OPENSSH in data:
            raise ConfigError(_openssh_help(data, path))
        if b"PUBLIC KEY-----" in data and b"PRIVATE KEY-----" not in data:
            raise ConfigError(
                f"The private key file{named} holds a public key: private_key_file must name the"
                " private key (the public one is what you register with Binance)."
            )
        try:
            key = load_pem_private_key(data, password=passphrase)
        except TypeError:
            raise ConfigError(
                "The private key file is encrypted: set private_key_passphrase."
                if passphrase is None
                else "The private key file is not encrypted: remove private_key_passphrase."
            ) from None
        except ValueError:
            raise ConfigError(
                "Could not read the private key: wrong passphrase, or not a PEM private key."
            ) from None
        return _signer_for(key)

    @classmethod
    def from_file(cls, path: Path, passphrase: bytes | None = None) -> _PrivateKeySigner:
        from pmtui.config import read_small_file

        path = Path(path).expanduser()
        return cls.from_pem(read_small_file(path, "private key file"), passphrase, path)

    def _sign_bytes(self, data: bytes) -> bytes:
        raise NotImplementedError

    def sign(self, payload: str) -> str:
        return quote(base64.b64encode(self._sign_bytes(payload.encode())).decode(), safe="")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<private key>)"


class Ed25519Signer(_PrivateKeySigner):
    kind = "Ed25519"

    def _sign_bytes(self, data: bytes) -> bytes:
        return bytes(self._key.sign(data))


class RsaSigner(_PrivateKeySigner):
    kind = "RSA"

    def _sign_bytes(self, data: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        return bytes(self._key.sign(data, padding.PKCS1v15(), hashes.SHA256()))


_OPENSSH = b"-----BEGIN OPENSSH PRIVATE KEY-----"
# Rewrites an unprotected OpenSSH key as PKCS#8 PEM with the `cryptography` pmtui already uses:
# ssh-keygen cannot (`ssh-keygen -p -m PKCS8` keeps an Ed25519 key in OpenSSH format, as of
# OpenSSH 9), and cryptography needs bcrypt (not installed) for a protected one.
_CONVERT = (
    "import sys;from cryptography.hazmat.primitives import serialization as s;"
    "k=s.load_ssh_private_key(open(sys.argv[1],'rb').read(),None);sys.stdout.buffer.write("
    "k.private_bytes(s.Encoding.PEM,s.PrivateFormat.PKCS8,s.NoEncryption()))"
)


def _openssh_encrypted(data: bytes) -> bool:
    """Whether an OpenSSH private key names a cipher (is passphrase-protected)."""
    try:
        body = data.split(_OPENSSH, 1)[1].split(b"-----END", 1)[0]
        blob = base64.b64decode(b"".join(body.split()))
        magic = b"openssh-key-v1\0"
        size = int.from_bytes(blob[len(magic):len(magic) + 4], "big")
        return blob[len(magic) + 4:len(magic) + 4 + size] != b"none"
    except (ValueError, IndexError):
        return False


def _openssh_help(data: bytes, path: Path | None) -> str:
    import shlex
    import sys

    key = str(path) if path is not None else "KEY"
    pem, source = shlex.quote(f"{key}.pem"), shlex.quote(key)
    convert = f"{shlex.quote(sys.executable)} -c {shlex.quote(_CONVERT)}"
    if _openssh_encrypted(data):
        # Convert an unprotected copy (ssh-keygen asks for the passphrase), then remove it.
        tmp = shlex.quote(f"{key}.tmp")
        steps = (f"cp {source} {tmp} && ssh-keygen -q -p -N '' -f {tmp} && {convert} {tmp} > {pem};"
                 f" rm -f {tmp}")
    else:
        steps = f"{convert} {source} > {pem}"
    return (f"The private key file {key} is in OpenSSH format, which pmtui cannot read; convert it"
            f" to PEM with: (umask 077; {steps}) and set private_key_file to {pem}.")


def _signer_for(key: Any) -> _PrivateKeySigner:
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    if isinstance(key, ed25519.Ed25519PrivateKey):
        return Ed25519Signer(key)
    if isinstance(key, rsa.RSAPrivateKey):
        return RsaSigner(key)
    raise ConfigError("The private key must be Ed25519 or RSA (the kinds Binance accepts).")


def make_signer(
    *,
    api_secret: SecretStr | None,
    private_key_file: Path | None = None,
    passphrase: SecretStr | None = None,
) -> Signer:
    """The signer the settings ask for: a private key file wins over an API secret."""
    if private_key_file is not None:
        pw = passphrase.get_secret_value().encode() if passphrase is not None else None
        return _PrivateKeySigner.from_file(private_key_file, pw)
    if api_secret is not None and api_secret.get_secret_value():
        return HmacSigner(api_secret)
    raise ConfigError("No API secret or private key is configured.")
