//! [`MemoryBlobStore`]: blobs in a map, for tests. The plainest reading of [`BlobStore`]: an
//! upload is gathered aside and enters the map only once whole.

use std::collections::HashMap;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use parking_lot::Mutex;

use super::{Blob, BlobError, BlobStore, ByteRange, ByteStream, is_blob_id, within};

/// A [`BlobStore`] in memory: nothing is written anywhere, everything goes with it.
#[derive(Debug, Default)]
pub struct MemoryBlobStore {
    blobs: Mutex<HashMap<String, Bytes>>,
}

impl MemoryBlobStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn checked(id: &str) -> Result<&str, BlobError> {
        if is_blob_id(id) {
            Ok(id)
        } else {
            Err(BlobError::InvalidId(id.to_owned()))
        }
    }
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    async fn put(&self, id: &str, mut body: ByteStream, max_bytes: u64) -> Result<u64, BlobError> {
        let id = Self::checked(id)?;
        if self.blobs.lock().contains_key(id) {
            return Err(BlobError::Exists(id.to_owned()));
        }
        let mut gathered = BytesMut::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(BlobError::Upload)?;
            if (gathered.len() + chunk.len()) as u64 > max_bytes {
                return Err(BlobError::TooLarge { max: max_bytes });
            }
            gathered.extend_from_slice(&chunk);
        }
        let size = gathered.len() as u64;
        match self.blobs.lock().entry(id.to_owned()) {
            std::collections::hash_map::Entry::Occupied(_) => Err(BlobError::Exists(id.to_owned())),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(gathered.freeze());
                Ok(size)
            }
        }
    }

    async fn size(&self, id: &str) -> Result<Option<u64>, BlobError> {
        let id = Self::checked(id)?;
        Ok(self.blobs.lock().get(id).map(|b| b.len() as u64))
    }

    async fn get(&self, id: &str, range: Option<ByteRange>) -> Result<Option<Blob>, BlobError> {
        let id = Self::checked(id)?;
        let Some(bytes) = self.blobs.lock().get(id).cloned() else {
            return Ok(None);
        };
        let size = bytes.len() as u64;
        let range = within(range, size)?;
        // In range by `within`, so the casts are of numbers no larger than the blob.
        let part = bytes.slice(range.start as usize..range.end as usize);
        Ok(Some(Blob {
            size,
            range,
            body: Box::pin(futures::stream::once(async move { Ok(part) })),
        }))
    }

    async fn delete(&self, id: &str) -> Result<bool, BlobError> {
        let id = Self::checked(id)?;
        Ok(self.blobs.lock().remove(id).is_some())
    }
}
