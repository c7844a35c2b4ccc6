"""A Windows instance's Administrator password, decrypted with its key pair's private key.
Neither appears in any message or log."""

from __future__ import annotations

import base64
import binascii

from ..access.aws import AwsError


def decrypt_password(password_data: str, private_key_pem: str, instance_id: str = "") -> str:
    """EC2's Windows password data (base64, RSA PKCS#1 v1.5 with the key pair's public key)
    decrypted. OpenSSL answers a wrong key with random bytes rather than an error (implicit
    rejection), so the result must also look like a password: printable ASCII."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    which = instance_id or "the instance"
    data = password_data.strip()
    if not data:
        raise AwsError(
            f"the Windows password of {which} is not available yet (Windows makes it within "
            "minutes of the first boot); try again shortly"
        )
    wrong_key = AwsError(
        f"the private key does not decrypt {which}'s password: use the key pair the instance "
        "was launched with"
    )
    try:
        key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    except (ValueError, TypeError):
        raise AwsError(
            "the private key is not an unencrypted PEM private key (the .pem file EC2 gave when "
            "the key pair was made)"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise AwsError("Windows passwords are encrypted for RSA key pairs; this key is not RSA")
    try:
        plain = key.decrypt(base64.b64decode(data, validate=True), padding.PKCS1v15())
    except (ValueError, binascii.Error):
        raise wrong_key from None
    try:
        password = plain.decode("ascii")
    except UnicodeDecodeError:
        raise wrong_key from None
    if len(password) < 8 or not password.isprintable():
        raise wrong_key
    return password
