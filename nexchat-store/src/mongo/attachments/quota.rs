//! The usage counter (`attachment_usage`, one document per owner): taken with a conditional
//! `$inc` before an attachment's record is written, and moved by the record's later changes.

use mongodb::bson::doc;
use nexchat_core::store::{Reserved, StoreResult};

use super::bson_u64;
use crate::mongo::docs::Reader;
use crate::mongo::{MongoStore, backend, collections, is_duplicate_key};

impl MongoStore {
    /// Takes `size` bytes of `owner`'s quota unless their attachments would then take more than
    /// `quota`, in one conditional update; [`Reserved::OverQuota`] writes nothing.
    pub(super) async fn take_quota(
        &self,
        owner: &str,
        size: u64,
        quota: u64,
    ) -> StoreResult<Reserved> {
        let Some(room) = quota.checked_sub(size) else {
            return Ok(Reserved::OverQuota {
                used: self.usage(owner).await?,
            });
        };
        // The filter is the quota check: the server applies the `$inc` only to a counter that
        // leaves room, so of racing uploads exactly as many as fit get through.
        let filter = doc! { "_id": owner, "used": { "$lte": bson_u64(room) } };
        let update = doc! { "$inc": { "used": bson_u64(size) } };
        let taken = match self
            .attachment_usage
            .update_one(filter.clone(), update.clone())
            .upsert(true)
            .await
        {
            Ok(_) => true,
            // The counter exists: either full, or created by a racing first upsert.
            Err(e) if is_duplicate_key(&e) => {
                self.attachment_usage
                    .update_one(filter, update)
                    .await
                    .map_err(backend)?
                    .matched_count
                    == 1
            }
            Err(e) => return Err(backend(e)),
        };
        Ok(if taken {
            Reserved::Reserved
        } else {
            Reserved::OverQuota {
                used: self.usage(owner).await?,
            }
        })
    }

    /// Moves `owner`'s counter by `by` bytes (negative gives them back).
    pub(super) async fn add_usage(&self, owner: &str, by: i64) -> StoreResult<()> {
        if by != 0 {
            self.attachment_usage
                .update_one(doc! { "_id": owner }, doc! { "$inc": { "used": by } })
                .await
                .map_err(backend)?;
        }
        Ok(())
    }

    /// The bytes `owner`'s attachments take: their counter, 0 without one.
    pub(super) async fn usage(&self, owner: &str) -> StoreResult<u64> {
        let Some(found) = self
            .attachment_usage
            .find_one(doc! { "_id": owner })
            .await
            .map_err(backend)?
        else {
            return Ok(0);
        };
        let used = Reader::new(collections::ATTACHMENT_USAGE, &found).i64("used")?;
        // Never below 0 in a correct run; read as 0 rather than failing if it ever were.
        Ok(u64::try_from(used).unwrap_or(0))
    }
}
