//! Groups and their members: each conditional step reads what it checks and writes in the same
//! writer job, so no other write comes between the check and the change.

use nexchat_core::protocol::{GroupMember, GroupRole, SealedField};
use nexchat_core::store::{GroupLimits, GroupRecord, Joined, Removal, RoleSet, StoreError};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::messages::settle;
use crate::sqlite::Error;
use crate::sqlite::rows::{Fields, collect};

pub(super) const GROUP: &str = "SELECT id, created_at, title, avatar FROM groups WHERE id = ?1";
pub(super) const GROUP_EXISTS: &str = "SELECT 1 FROM groups WHERE id = ?1";
pub(super) const MEMBERS: &str = "SELECT username, role, joined_at FROM group_members
     WHERE group_id = ?1 ORDER BY joined_at, seq";
pub(super) const GROUPS_OF: &str = "SELECT group_id FROM group_members WHERE username = ?1";
pub(super) const GROUPS_COUNT: &str = "SELECT count(*) FROM group_members WHERE username = ?1";
pub(super) const MEMBERS_COUNT: &str = "SELECT count(*) FROM group_members WHERE group_id = ?1";
pub(super) const ROLE_OF: &str =
    "SELECT role FROM group_members WHERE group_id = ?1 AND username = ?2";
/// The next membership of a group comes after every one it has (a group has few members).
pub(super) const ADD_MEMBER: &str =
    "INSERT INTO group_members (group_id, username, role, joined_at, seq)
     VALUES (?1, ?2, ?3, ?4,
             coalesce((SELECT max(seq) FROM group_members WHERE group_id = ?1), 0) + 1)";
pub(super) const ADMINS_COUNT: &str =
    "SELECT count(*) FROM group_members WHERE group_id = ?1 AND role = 'admin'";
pub(super) const SET_ROLE: &str =
    "UPDATE group_members SET role = ?3 WHERE group_id = ?1 AND username = ?2";
pub(super) const DELETE_MEMBER: &str =
    "DELETE FROM group_members WHERE group_id = ?1 AND username = ?2";
/// The removed member's receipts that may hold their message's status back (a `seen` one
/// holds nothing back): the group's messages from the member's `unseen_from` on.
pub(super) const HOLDING_BACK: &str = "SELECT r.message FROM group_messages m
     JOIN group_receipts r ON r.message = m.seq AND r.member = ?2
     WHERE m.group_id = ?1 AND r.status < 2
       AND m.seq >= (SELECT unseen_from FROM group_members WHERE group_id = ?1 AND username = ?2)";
/// The group's messages from the member's first receipt on (run before the membership goes).
pub(super) const DELETE_MEMBER_RECEIPTS: &str = "DELETE FROM group_receipts
     WHERE member = ?2 AND message IN (SELECT seq FROM group_messages WHERE group_id = ?1
       AND seq >= (SELECT first_message FROM group_members
                   WHERE group_id = ?1 AND username = ?2))";
pub(super) const PROMOTE: &str = "UPDATE group_members SET role = 'admin'
     WHERE group_id = ?1 AND username =
         (SELECT username FROM group_members WHERE group_id = ?1 ORDER BY joined_at, seq LIMIT 1)
     RETURNING username";
pub(super) const DELETE_GROUP_RECEIPTS: &str = "DELETE FROM group_receipts
     WHERE message IN (SELECT seq FROM group_messages WHERE group_id = ?1)";
pub(super) const DELETE_GROUP_MESSAGES: &str = "DELETE FROM group_messages WHERE group_id = ?1";
pub(super) const DELETE_GROUP: &str = "DELETE FROM groups WHERE id = ?1";
pub(super) const SET_DETAILS: &str = "UPDATE groups SET title = ?2, avatar = ?3 WHERE id = ?1";

pub(super) fn create_group(
    conn: &Connection,
    group: &GroupRecord,
    creator: &str,
    max_groups: usize,
) -> Result<bool, Error> {
    if exists(conn, GROUP_EXISTS, params![group.id])? {
        return Err(StoreError::Conflict(format!("group {} exists", group.id)).into());
    }
    if count(conn, GROUPS_COUNT, params![creator])? >= max_groups {
        return Ok(false);
    }
    conn.prepare_cached(
        "INSERT INTO groups (id, created_at, title, avatar) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        group.id,
        group.created_at,
        sealed_text(group.title.as_ref())?,
        sealed_text(group.avatar.as_ref())?
    ])?;
    conn.prepare_cached(ADD_MEMBER)?.execute(params![
        group.id,
        creator,
        GroupRole::Admin.as_str(),
        group.created_at
    ])?;
    Ok(true)
}

pub(super) fn group(conn: &Connection, id: &str) -> Result<Option<GroupRecord>, Error> {
    let found = conn
        .prepare_cached(GROUP)?
        .query_row([id], |row| Ok(decode_group(row)))
        .optional()?;
    Ok(found.transpose()?)
}

pub(super) fn members(conn: &Connection, group: &str) -> Result<Vec<GroupMember>, Error> {
    let mut stmt = conn.prepare_cached(MEMBERS)?;
    collect(stmt.query([group])?, decode_member)
}

pub(super) fn groups_of(conn: &Connection, user: &str) -> Result<Vec<String>, Error> {
    let mut stmt = conn.prepare_cached(GROUPS_OF)?;
    let ids = stmt
        .query_map([user], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// Every check, then the one insert: only the insert changes the database.
pub(super) fn add_member(
    conn: &Connection,
    group: &str,
    member: &GroupMember,
    limits: GroupLimits,
) -> Result<Joined, Error> {
    if !exists(conn, GROUP_EXISTS, params![group])? {
        return Ok(Joined::NoGroup);
    }
    if exists(conn, ROLE_OF, params![group, member.username])? {
        return Ok(Joined::AlreadyMember);
    }
    if count(conn, MEMBERS_COUNT, params![group])? >= limits.max_members {
        return Ok(Joined::GroupFull);
    }
    if count(conn, GROUPS_COUNT, params![member.username])? >= limits.max_groups {
        return Ok(Joined::TooManyGroups);
    }
    conn.prepare_cached(ADD_MEMBER)?.execute(params![
        group,
        member.username,
        member.role.as_str(),
        member.joined_at
    ])?;
    Ok(Joined::Added)
}

/// The membership and the member's receipts in the group go; then the group goes if it is
/// empty, or its longest-standing member becomes admin if no admin is left, and the messages
/// the removed receipts held back settle.
pub(super) fn remove_member(
    conn: &Connection,
    group: &str,
    user: &str,
) -> Result<Option<Removal>, Error> {
    if !exists(conn, ROLE_OF, params![group, user])? {
        return Ok(None);
    }
    let held_back: Vec<i64> = conn
        .prepare_cached(HOLDING_BACK)?
        .query_map(params![group, user], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    // The receipts first: the membership row bounds them.
    conn.prepare_cached(DELETE_MEMBER_RECEIPTS)?
        .execute(params![group, user])?;
    conn.prepare_cached(DELETE_MEMBER)?
        .execute(params![group, user])?;
    if count(conn, MEMBERS_COUNT, params![group])? == 0 {
        for sql in [DELETE_GROUP_RECEIPTS, DELETE_GROUP_MESSAGES, DELETE_GROUP] {
            conn.prepare_cached(sql)?.execute([group])?;
        }
        return Ok(Some(Removal {
            promoted: None,
            deleted: true,
        }));
    }
    let promoted = if count(conn, ADMINS_COUNT, params![group])? == 0 {
        conn.prepare_cached(PROMOTE)?
            .query_row([group], |row| row.get(0))
            .optional()?
    } else {
        None
    };
    settle(conn, &held_back)?;
    Ok(Some(Removal {
        promoted,
        deleted: false,
    }))
}

/// Demoting the only admin is refused; anything else is one update.
pub(super) fn set_role(
    conn: &Connection,
    group: &str,
    user: &str,
    role: GroupRole,
) -> Result<RoleSet, Error> {
    let current: Option<String> = conn
        .prepare_cached(ROLE_OF)?
        .query_row(params![group, user], |row| row.get(0))
        .optional()?;
    let Some(current) = current else {
        return Ok(RoleSet::NotMember);
    };
    if role == GroupRole::Member
        && current == GroupRole::Admin.as_str()
        && count(conn, ADMINS_COUNT, params![group])? == 1
    {
        return Ok(RoleSet::LastAdmin);
    }
    conn.prepare_cached(SET_ROLE)?
        .execute(params![group, user, role.as_str()])?;
    Ok(RoleSet::Set)
}

pub(super) fn set_details(
    conn: &Connection,
    group: &str,
    title: Option<&SealedField>,
    avatar: Option<&SealedField>,
) -> Result<bool, Error> {
    let changed = conn.prepare_cached(SET_DETAILS)?.execute(params![
        group,
        sealed_text(title)?,
        sealed_text(avatar)?
    ])?;
    Ok(changed == 1)
}

fn exists(conn: &Connection, sql: &str, args: impl rusqlite::Params) -> Result<bool, Error> {
    Ok(conn
        .prepare_cached(sql)?
        .query_row(args, |_| Ok(()))
        .optional()?
        .is_some())
}

fn count(conn: &Connection, sql: &str, args: impl rusqlite::Params) -> Result<usize, Error> {
    let n: i64 = conn
        .prepare_cached(sql)?
        .query_row(args, |row| row.get(0))?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// A sealed field as the JSON text stored for it.
fn sealed_text(field: Option<&SealedField>) -> Result<Option<String>, Error> {
    field
        .map(|f| {
            serde_json::to_string(f).map_err(|e| StoreError::backend("encoding a group field", e))
        })
        .transpose()
        .map_err(Error::from)
}

fn decode_group(row: &Row<'_>) -> Result<GroupRecord, StoreError> {
    let f = Fields::new(row, "groups", 0);
    let sealed = |index: usize, name: &str| -> Result<Option<SealedField>, StoreError> {
        let text: Option<String> = f.get(index, name)?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| f.corrupt(format!("column {name}: {e}"))))
            .transpose()
    };
    Ok(GroupRecord {
        id: f.get(0, "id")?,
        created_at: f.get(1, "created_at")?,
        title: sealed(2, "title")?,
        avatar: sealed(3, "avatar")?,
    })
}

fn decode_member(row: &Row<'_>) -> Result<GroupMember, StoreError> {
    let f = Fields::new(row, "group_members", 0);
    Ok(GroupMember {
        username: f.get(0, "username")?,
        role: f.parse(1, "role", GroupRole::parse)?,
        joined_at: f.get(2, "joined_at")?,
    })
}
