//! [`AttachmentStore`]: the records of attachments — who uploaded what, how large it is, and
//! which messages name it. The bytes themselves live in a [`crate::blobs::BlobStore`].
//!
//! An attachment's record goes through three states: [`AttachmentState::Uploading`] from the
//! moment its upload is let in (its size then is what the upload may take, held against the
//! uploader's quota), [`AttachmentState::Stored`] once every byte is durable, and
//! [`AttachmentState::Collecting`] once the collector has claimed it: from then on nothing may
//! name it, and its blob and record are deleted, in that order, by whichever pass gets there.
//!
//! Two steps must each be atomic in a backend, because they race across nodes: naming
//! attachments in a message ([`AttachmentStore::reference_attachments`]: every id stored and the
//! sender's, or nothing recorded) and claiming one for collection
//! ([`AttachmentStore::claim_attachment`]: only while no message names it). Whichever comes
//! first wins, so a message never names a collected attachment. Reserving quota
//! ([`AttachmentStore::reserve_attachment`]) is atomic too, so parallel uploads cannot overrun it.

use std::sync::Arc;

use async_trait::async_trait;

use super::StoreResult;

/// Where an attachment stands; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AttachmentState {
    /// Its upload is under way (or died); `size` is what it may take.
    Uploading,
    /// Every byte is stored; `size` is the blob's size.
    Stored,
    /// Claimed by the collector; its blob and record are on their way out.
    Collecting,
}

impl AttachmentState {
    /// The name a backend stores.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Uploading => "uploading",
            Self::Stored => "stored",
            Self::Collecting => "collecting",
        }
    }

    /// The state [`AttachmentState::as_str`] named.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "uploading" => Some(Self::Uploading),
            "stored" => Some(Self::Stored),
            "collecting" => Some(Self::Collecting),
            _ => None,
        }
    }
}

/// One attachment's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRecord {
    /// UUID, made by the server; also the blob's id.
    pub id: String,
    /// The user who uploaded it.
    pub owner: String,
    /// Bytes: reserved while uploading, stored afterwards. Counts against the owner's quota.
    pub size: u64,
    /// Where it stands.
    pub state: AttachmentState,
    /// When its upload began (ms).
    pub created_at: i64,
}

/// A message that names an attachment, and so who besides the uploader may download it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AttachmentRef {
    /// A 1:1 message to `receiver`.
    Direct {
        /// The message's id.
        message: String,
        /// Its receiver.
        receiver: String,
    },
    /// A message to the members of `group`.
    Group {
        /// The message's id.
        message: String,
        /// The group.
        group: String,
    },
}

/// What [`AttachmentStore::reserve_attachment`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reserved {
    /// The record exists, in state uploading.
    Reserved,
    /// The owner's attachments already take `used` bytes, and the new one would pass the
    /// quota; nothing was written.
    OverQuota {
        /// Bytes the owner's attachments take now.
        used: u64,
    },
}

/// The records of attachments; see the module docs.
#[async_trait]
pub trait AttachmentStore: Send + Sync {
    /// Writes `record` (state [`AttachmentState::Uploading`], `size` the bytes it may take) if
    /// the owner's attachments and it together take at most `quota` bytes; in one atomic step.
    ///
    /// # Errors
    /// [`super::StoreError::Conflict`] when the id is taken; a backend failure.
    async fn reserve_attachment(
        &self,
        record: &AttachmentRecord,
        quota: u64,
    ) -> StoreResult<Reserved>;
    /// Moves attachment `id` from uploading to stored with its final `size` (at most the one
    /// reserved); false, changing nothing, when it is not uploading.
    ///
    /// # Errors
    /// A backend failure.
    async fn finish_attachment(&self, id: &str, size: u64) -> StoreResult<bool>;
    /// The record of attachment `id`, in any state.
    ///
    /// # Errors
    /// A backend failure.
    async fn attachment(&self, id: &str) -> StoreResult<Option<AttachmentRecord>>;
    /// Records that a message of `owner`'s names each of `ids`, if every one is `owner`'s and
    /// stored; otherwise records nothing and returns false. Naming the same attachment in the
    /// same message again changes nothing (a resend).
    ///
    /// # Errors
    /// A backend failure.
    async fn reference_attachments(
        &self,
        owner: &str,
        ids: &[String],
        reference: &AttachmentRef,
    ) -> StoreResult<bool>;
    /// The messages that name attachment `id`.
    ///
    /// # Errors
    /// A backend failure.
    async fn attachment_refs(&self, id: &str) -> StoreResult<Vec<AttachmentRef>>;
    /// The bytes `owner`'s attachments take, in every state.
    ///
    /// # Errors
    /// A backend failure.
    async fn attachment_usage(&self, owner: &str) -> StoreResult<u64>;
    /// Up to `limit` attachments to collect: those already collecting, and those no message
    /// names that were created before `created_before` (ms).
    ///
    /// # Errors
    /// A backend failure.
    async fn collectable_attachments(
        &self,
        created_before: i64,
        limit: usize,
    ) -> StoreResult<Vec<String>>;
    /// Moves attachment `id` to collecting if no message names it and it was created before
    /// `created_before`; true also when it already was collecting. In one atomic step with
    /// respect to [`AttachmentStore::reference_attachments`].
    ///
    /// # Errors
    /// A backend failure.
    async fn claim_attachment(&self, id: &str, created_before: i64) -> StoreResult<bool>;
    /// Deletes attachment `id`'s record and what names it, whatever its state; its bytes no
    /// longer count against its owner's quota. Nothing happens when there is none.
    ///
    /// # Errors
    /// A backend failure.
    async fn forget_attachment(&self, id: &str) -> StoreResult<()>;
    /// The ids of every attachment `owner` uploaded, in any state.
    ///
    /// # Errors
    /// A backend failure.
    async fn attachments_of(&self, owner: &str) -> StoreResult<Vec<String>>;
}

/// Implements [`AttachmentStore`] by handing every call to another store, as
/// [`crate::forward_group_store!`] does for groups.
#[doc(hidden)]
#[macro_export]
macro_rules! forward_attachment_store {
    ($ty:ty, $field:ident) => {
        $crate::forward_attachment_store!(@impl [] $ty, store => &store.$field);
    };
    (@impl [$($generics:tt)*] $ty:ty, $this:ident => $inner:expr) => {
        #[$crate::__async_trait]
        impl<$($generics)*> $crate::store::AttachmentStore for $ty {
            async fn reserve_attachment(
                &self,
                record: &$crate::store::AttachmentRecord,
                quota: u64,
            ) -> $crate::store::StoreResult<$crate::store::Reserved> {
                {
                    let $this = self;
                    $inner
                }.reserve_attachment(record, quota).await
            }
            async fn finish_attachment(
                &self,
                id: &str,
                size: u64,
            ) -> $crate::store::StoreResult<bool> {
                {
                    let $this = self;
                    $inner
                }.finish_attachment(id, size).await
            }
            async fn attachment(
                &self,
                id: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::AttachmentRecord>> {
                {
                    let $this = self;
                    $inner
                }.attachment(id).await
            }
            async fn reference_attachments(
                &self,
                owner: &str,
                ids: &[String],
                reference: &$crate::store::AttachmentRef,
            ) -> $crate::store::StoreResult<bool> {
                {
                    let $this = self;
                    $inner
                }.reference_attachments(owner, ids, reference).await
            }
            async fn attachment_refs(
                &self,
                id: &str,
            ) -> $crate::store::StoreResult<Vec<$crate::store::AttachmentRef>> {
                {
                    let $this = self;
                    $inner
                }.attachment_refs(id).await
            }
            async fn attachment_usage(&self, owner: &str) -> $crate::store::StoreResult<u64> {
                {
                    let $this = self;
                    $inner
                }.attachment_usage(owner).await
            }
            async fn collectable_attachments(
                &self,
                created_before: i64,
                limit: usize,
            ) -> $crate::store::StoreResult<Vec<String>> {
                {
                    let $this = self;
                    $inner
                }.collectable_attachments(created_before, limit).await
            }
            async fn claim_attachment(
                &self,
                id: &str,
                created_before: i64,
            ) -> $crate::store::StoreResult<bool> {
                {
                    let $this = self;
                    $inner
                }.claim_attachment(id, created_before).await
            }
            async fn forget_attachment(&self, id: &str) -> $crate::store::StoreResult<()> {
                {
                    let $this = self;
                    $inner
                }.forget_attachment(id).await
            }
            async fn attachments_of(
                &self,
                owner: &str,
            ) -> $crate::store::StoreResult<Vec<String>> {
                {
                    let $this = self;
                    $inner
                }.attachments_of(owner).await
            }
        }
    };
}

// `Arc<S>` hands every call to the store it holds.
forward_attachment_store!(@impl [S: AttachmentStore + ?Sized] Arc<S>, store => &**store);
