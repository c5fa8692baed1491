"""The owner's dataset secret, the encrypted file it lives in, and every key derived from it.

    secret (32 random bytes, one per dataset, never leaves the owner)
    ├── code key = HKDF(secret, scheme || datasetId || "code"), dataset-wide:
    │     row digests, Tardos biases, identifier digests (the same in every copy)
    └── grant key = HKDF(secret, scheme || datasetId || grantId), one per grant:
          pseudonym cipher, Tardos bits, omitted rows, pseudonym tag (independent subkeys)

A grant key is what a finding reveals about one grant: HKDF's outputs are independent, so it
tells nothing about the secret, the code key or any other grant's key.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from cityledger.fingerprint.errors import SecretFileError
from cityledger.fingerprint.scheme import DOMAIN
from cityledger.sdk.grants_client import dataset_id
from cityledger.sdk.models import hex32, raw32

SECRET_BYTES = 32
FILE_FORMAT = "cityledger-dataset-secret/1"
# scrypt's cost: 2^15 x 8 x 128 bytes = 32 MiB and ~0.1 s a load. A file may ask for more, up to
# the bound, never for an amount of memory that would take the machine down.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 15, 8, 1
MAX_SCRYPT_MEMORY = 1 << 30
# A secret file is about 400 bytes; the bound also keeps json.loads far from deep recursion.
MAX_FILE_BYTES = 1 << 12


def _hkdf(key: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=SHA256(), length=length, salt=None, info=info).derive(key)


@dataclass(frozen=True)
class CodeKey:
    """The dataset-wide keys: which variant a cell's bias favours, and digests of rows and ids
    that the tracing side recomputes from the original data."""

    row: bytes  # BLAKE2b key of row digests
    bias: bytes  # AES key of the Tardos biases
    identifier: bytes  # BLAKE2b key of identifier digests (what a pseudonym encrypts)

    @classmethod
    def derive(cls, code_key: bytes) -> CodeKey:
        raw = _hkdf(code_key, DOMAIN + b"/code subkeys", 32 + 16 + 32)
        return cls(row=raw[:32], bias=raw[32:48], identifier=raw[48:])


@dataclass(frozen=True)
class GrantKey:
    grant_id: str  # 0x-hex bytes32
    key: bytes

    @cached_property
    def _subkeys(self) -> bytes:
        return _hkdf(self.key, DOMAIN + b"/grant subkeys", 16 * 3 + 2)

    @property
    def pseudonym(self) -> bytes:
        """AES key that turns an identifier digest into this grant's pseudonym."""
        return self._subkeys[:16]

    @property
    def code(self) -> bytes:
        """AES key of this grant's Tardos bits."""
        return self._subkeys[16:32]

    @property
    def omission(self) -> bytes:
        """AES key of the rows this grant's copies leave out."""
        return self._subkeys[32:48]

    @property
    def tag(self) -> int:
        """15 bits in every pseudonym of this grant, so tracing tries only grants that match."""
        return int.from_bytes(self._subkeys[48:50], "big") >> 1

    @property
    def commitment(self) -> str:
        """0x-hex SHA-256 of the key: what a delivery commitment records before release."""
        return "0x" + hashlib.sha256(DOMAIN + b"/grant key" + self.key).hexdigest()

    @classmethod
    def from_hex(cls, grant_id: str, key: str) -> GrantKey:
        """A revealed grant key (0x-hex) for `grant_id`."""
        try:
            raw = bytes.fromhex(key.removeprefix("0x"))
        except ValueError:
            raise SecretFileError(f"grant key {key[:12]}... is not hex") from None
        if len(raw) != SECRET_BYTES:
            raise SecretFileError(f"a grant key has {SECRET_BYTES} bytes, not {len(raw)}")
        return cls(hex32(grant_id), raw)


@dataclass(frozen=True)
class DatasetKeys:
    """Every key of one dataset, from its secret; grant keys are derived on demand."""

    dataset: str  # the dataset's name, or its 0x-hex id
    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) != SECRET_BYTES:
            raise SecretFileError(f"a dataset secret has {SECRET_BYTES} bytes")

    @classmethod
    def generate(cls, dataset: str) -> DatasetKeys:
        return cls(dataset, secrets.token_bytes(SECRET_BYTES))

    @property
    def dataset_id(self) -> str:
        return dataset_id(self.dataset)

    @cached_property
    def code(self) -> CodeKey:
        return CodeKey.derive(_hkdf(self.secret, DOMAIN + raw32(self.dataset_id) + b"code", 32))

    def grant(self, grant_id: str) -> GrantKey:
        info = DOMAIN + raw32(self.dataset_id) + raw32(grant_id)
        return GrantKey(hex32(grant_id), _hkdf(self.secret, info, SECRET_BYTES))

    def save(self, path: Path, passphrase: str, *, overwrite: bool = False) -> None:
        """Writes the secret encrypted under `passphrase` (scrypt, AES-256-GCM), mode 0600.
        Refuses to replace an existing file unless told to: a lost secret cannot trace."""
        if path.exists() and not overwrite:
            raise SecretFileError(f"{path} exists; a dataset secret is never silently replaced")
        salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
        header: dict[str, Any] = {
            "format": FILE_FORMAT,
            "dataset": self.dataset,
            "kdf": {
                "name": "scrypt",
                "salt": salt.hex(),
                "n": SCRYPT_N,
                "r": SCRYPT_R,
                "p": SCRYPT_P,
            },
            "cipher": {"name": "aes-256-gcm", "nonce": nonce.hex()},
        }
        key = _scrypt(header["kdf"], salt, passphrase)
        ciphertext = AESGCM(key).encrypt(nonce, self.secret, _aad(header))
        text = json.dumps({**header, "ciphertext": ciphertext.hex()}, indent=2) + "\n"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(text)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise

    @classmethod
    def load(cls, path: Path, passphrase: str) -> DatasetKeys:
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise SecretFileError(f"{path} is too large to be a dataset secret file")
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SecretFileError(f"no dataset secret file at {path}") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise SecretFileError(f"{path} is not a dataset secret file (not JSON)") from None
        try:
            header, salt, nonce, ciphertext = _parse(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise SecretFileError(f"{path} is not a valid dataset secret file ({exc})") from None
        key = _scrypt(header["kdf"], salt, passphrase)
        try:
            secret = AESGCM(key).decrypt(nonce, ciphertext, _aad(header))
        except InvalidTag:
            raise SecretFileError(
                f"cannot open {path}: wrong passphrase, or the file was altered"
            ) from None
        return cls(header["dataset"], secret)


def _parse(data: Any) -> tuple[dict[str, Any], bytes, bytes, bytes]:
    if not isinstance(data, dict) or data.get("format") != FILE_FORMAT:
        raise ValueError(f"format is not {FILE_FORMAT}")
    kdf, cipher = data["kdf"], data["cipher"]
    if kdf["name"] != "scrypt" or cipher["name"] != "aes-256-gcm":
        raise ValueError("unknown key derivation or cipher")
    n, r, p = (kdf[k] for k in ("n", "r", "p"))
    if not all(isinstance(v, int) and v > 0 for v in (n, r, p)) or n & (n - 1):
        raise ValueError("scrypt parameters must be positive integers, n a power of two")
    if 128 * n * r * p > MAX_SCRYPT_MEMORY:
        raise ValueError("scrypt parameters ask for more memory than allowed")
    if not isinstance(data["dataset"], str):
        raise ValueError("dataset must be a string")
    header = {k: data[k] for k in ("format", "dataset", "kdf", "cipher")}
    return (
        header,
        bytes.fromhex(kdf["salt"]),
        bytes.fromhex(cipher["nonce"]),
        bytes.fromhex(data["ciphertext"]),
    )


def _scrypt(kdf: dict[str, Any], salt: bytes, passphrase: str) -> bytes:
    return Scrypt(salt=salt, length=32, n=kdf["n"], r=kdf["r"], p=kdf["p"]).derive(
        passphrase.encode()
    )


def _aad(header: dict[str, Any]) -> bytes:
    """The header is authenticated with the secret: a changed dataset name or parameter fails."""
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
