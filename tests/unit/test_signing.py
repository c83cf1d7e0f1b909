"""Request signing: Binance's published HMAC vector, Ed25519 and RSA round trips, key loading."""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import unquote

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from pydantic import SecretStr

from pmtui.errors import ConfigError
from pmtui.signing import Ed25519Signer, HmacSigner, RsaSigner, make_signer

# From Binance's API docs ("SIGNED endpoint examples").
DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
DOC_PAYLOAD = (
    "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
    "&recvWindow=5000&timestamp=1499827319559"
)
DOC_SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
PAYLOAD = "timestamp=1700000000000&recvWindow=5000"
PASSPHRASE = b"correct horse battery staple"


def pem(key, passphrase: bytes | None = None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


@pytest.fixture(scope="module")
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def decode(signature: str) -> bytes:
    """Signature parameter -> raw bytes; it must be URL-safe as sent (no raw + / =)."""
    assert not set(signature) & set("+/= &"), signature
    return base64.b64decode(unquote(signature), validate=True)


def assert_clear(err: Exception, *secrets: str | bytes) -> None:
    text = str(err)
    assert text and text[0].isupper() and text.endswith("."), text
    assert "Traceback" not in text and "\n" not in text and "object at 0x" not in text, text
    for secret in secrets:
        secret = secret.decode() if isinstance(secret, bytes) else secret
        assert secret not in text and secret not in repr(err)


# --- HMAC ---------------------------------------------------------------------------------------


def test_hmac_matches_binance_documented_vector():
    assert HmacSigner(DOC_SECRET).sign(DOC_PAYLOAD) == DOC_SIGNATURE


def test_hmac_accepts_secretstr():
    assert HmacSigner(SecretStr(DOC_SECRET)).sign(DOC_PAYLOAD) == DOC_SIGNATURE


def test_hmac_repr_hides_secret():
    signer = HmacSigner(DOC_SECRET)
    assert DOC_SECRET not in repr(signer) and DOC_SECRET not in str(signer)


# --- Ed25519 and RSA ----------------------------------------------------------------------------


def test_ed25519_round_trip(ed_key):
    signer = Ed25519Signer.from_pem(pem(ed_key))
    assert isinstance(signer, Ed25519Signer)
    ed_key.public_key().verify(decode(signer.sign(PAYLOAD)), PAYLOAD.encode())  # raises if wrong


def test_rsa_round_trip(rsa_key):
    signer = RsaSigner.from_pem(pem(rsa_key))
    assert isinstance(signer, RsaSigner)
    rsa_key.public_key().verify(
        decode(signer.sign(PAYLOAD)), PAYLOAD.encode(), padding.PKCS1v15(), hashes.SHA256()
    )


def test_rsa_signature_is_url_encoded(rsa_key):
    """A 256-byte RSA signature in base64 almost surely has + or /; they must go out as %2B / %2F."""
    signer = RsaSigner.from_pem(pem(rsa_key))
    signatures = [signer.sign(f"timestamp={1700000000000 + i}&recvWindow=5000") for i in range(20)]
    assert any("%2B" in s or "%2F" in s for s in signatures)
    assert all(s.endswith("%3D%3D") for s in signatures)  # 256 bytes -> base64 padded with "=="


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_encrypted_pem_with_passphrase(kind, ed_key, rsa_key, tmp_path: Path):
    key = ed_key if kind == "ed25519" else rsa_key
    path = tmp_path / "key.pem"
    path.write_bytes(pem(key, PASSPHRASE))
    signer = make_signer(api_secret=None, private_key_file=path, passphrase=SecretStr(PASSPHRASE.decode()))
    raw = decode(signer.sign(PAYLOAD))
    if kind == "ed25519":
        key.public_key().verify(raw, PAYLOAD.encode())
    else:
        key.public_key().verify(raw, PAYLOAD.encode(), padding.PKCS1v15(), hashes.SHA256())


def test_encrypted_pem_without_passphrase_is_a_config_error(ed_key):
    with pytest.raises(ConfigError) as info:
        Ed25519Signer.from_pem(pem(ed_key, PASSPHRASE))
    assert "passphrase" in str(info.value)
    assert_clear(info.value)


def test_wrong_passphrase_is_a_config_error_without_the_passphrase(ed_key):
    wrong = b"not-the-right-passphrase-X7"
    with pytest.raises(ConfigError) as info:
        Ed25519Signer.from_pem(pem(ed_key, PASSPHRASE), wrong)
    assert_clear(info.value, wrong, PASSPHRASE)


def test_passphrase_for_plain_pem_is_a_config_error(ed_key):
    with pytest.raises(ConfigError) as info:
        Ed25519Signer.from_pem(pem(ed_key), PASSPHRASE)
    assert_clear(info.value, PASSPHRASE)


def test_unsupported_key_type_is_a_config_error():
    with pytest.raises(ConfigError) as info:
        Ed25519Signer.from_pem(pem(ec.generate_private_key(ec.SECP256R1())))
    assert "Ed25519 or RSA" in str(info.value)
    assert_clear(info.value)


def test_not_a_pem_is_a_config_error():
    with pytest.raises(ConfigError) as info:
        RsaSigner.from_pem(b"this is not a key")
    assert_clear(info.value)


def test_missing_key_file_is_a_config_error(tmp_path: Path):
    missing = tmp_path / "nope.pem"
    with pytest.raises(ConfigError) as info:
        Ed25519Signer.from_file(missing)
    assert str(missing) in str(info.value)
    assert_clear(info.value)


def test_signer_repr_hides_key_material(ed_key, rsa_key):
    for key in (ed_key, rsa_key):
        signer = (Ed25519Signer if key is ed_key else RsaSigner).from_pem(pem(key))
        assert "PRIVATE" not in repr(signer) and "0x" not in repr(signer)


# --- make_signer --------------------------------------------------------------------------------


def test_make_signer_hmac_from_secret():
    signer = make_signer(api_secret=SecretStr(DOC_SECRET), private_key_file=None, passphrase=None)
    assert isinstance(signer, HmacSigner)
    assert signer.sign(DOC_PAYLOAD) == DOC_SIGNATURE


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_make_signer_private_key_file_wins_over_secret(kind, ed_key, rsa_key, tmp_path: Path):
    path = tmp_path / "key.pem"
    path.write_bytes(pem(ed_key if kind == "ed25519" else rsa_key))
    signer = make_signer(api_secret=SecretStr(DOC_SECRET), private_key_file=path, passphrase=None)
    assert isinstance(signer, Ed25519Signer if kind == "ed25519" else RsaSigner)


@pytest.mark.parametrize("secret", [None, SecretStr("")])
def test_make_signer_without_credentials_is_a_config_error(secret):
    with pytest.raises(ConfigError) as info:
        make_signer(api_secret=secret, private_key_file=None, passphrase=None)
    assert_clear(info.value)
