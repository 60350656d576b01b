//! What can go wrong in the client's cryptography.

/// Why a key, a ciphertext or a backup was refused.
///
/// The variants say whose fault it is: [`CryptoError::DoesNotOpen`] and
/// [`CryptoError::WrongPassword`] are what a forged, moved or mistyped input looks like and are
/// normal at run time; [`CryptoError::Malformed`] and [`CryptoError::InvalidKey`] mean a peer or
/// the server sent something the protocol does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// A key that is not a P-256 key of the protocol's shape: a JWK with another curve, a
    /// coordinate that is not 32 bytes of base64url, a point off the curve, a private part `d`
    /// whose public point is not the JWK's `x` and `y`.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// The AES-GCM tag did not verify: a wrong key, or a ciphertext that was tampered with or
    /// moved to another id, sender, receiver, group or chunk than it was sealed for.
    #[error("the ciphertext does not open under this key for these names")]
    DoesNotOpen,
    /// Something that should follow the protocol does not: a message body, key message, sealed
    /// field, attachment descriptor or IV of the wrong shape.
    #[error("malformed: {0}")]
    Malformed(String),
    /// Key derivation parameters outside the floor and caps of docs/protocol.md ("The `kdf`
    /// object"), or a version 1 backup with too few or too many PBKDF2 iterations: refused
    /// before any work, so a server can neither weaken the derivation nor stall the client.
    #[error("unsafe key derivation parameters: {0}")]
    UnsafeKdf(String),
    /// The key backup did not open: a wrong password, or the backup of another account.
    #[error("the key backup could not be unlocked with this password")]
    WrongPassword,
    /// The key backup is not a version 2 backup (`{format: "nexchat-key-backup", v: 2, …}`),
    /// or, for [`open_backup_v1`](super::open_backup_v1), not a version 1 backup.
    #[error("unknown key backup format")]
    UnknownBackupFormat,
    /// The key backup has its format's members but they cannot be decoded (not base64, an IV
    /// that is not 12 bytes).
    #[error("the key backup is damaged")]
    DamagedBackup,
    /// A downloaded attachment is not the file its descriptor describes: its length is not the
    /// ciphertext length of `size` bytes in chunks of `chunk`, or its SHA-256 is not `digest`.
    #[error("the file does not match its descriptor: {0}")]
    FileMismatch(String),
}
