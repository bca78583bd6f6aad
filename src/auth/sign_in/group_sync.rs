//! Group sync (spec section 5.4): the mappings whose group claim value is among the user's
//! groups are merged (admin if any grants it, permissions and libraries as unions); Replace
//! sets the user's grants to exactly the merge, Additive only adds to them. An absent groups
//! claim changes nothing. The admin invariants are kept by the transaction that applies it.

use crate::db::oidc_users::Grants;
use crate::db::GroupMapping;
use app::domain::PERMISSIONS;
use serde_json::Value;
use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    Disabled,
    /// `ON_LOGIN`: "On Login (Replace)".
    Replace,
    /// `ON_LOGIN_ADDITIVE`: "On Login (Additive)".
    Additive,
}

impl SyncMode {
    /// The stored setting; anything unknown syncs nothing.
    pub fn parse(stored: &str) -> Self {
        match stored {
            "ON_LOGIN" => Self::Replace,
            "ON_LOGIN_ADDITIVE" => Self::Additive,
            _ => Self::Disabled,
        }
    }
}

/// What group sync does to one user's grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sync {
    /// The sync mode is Disabled.
    Off,
    /// The groups claim is absent altogether: nothing changes, and the audit log says why.
    NoGroupsClaim,
    /// The grants become `after` (which may equal `before`).
    Apply { before: Grants, after: Grants },
}

impl Sync {
    /// The grants to store, if any.
    pub fn grants(&self) -> Option<&Grants> {
        match self {
            Self::Apply { after, .. } => Some(after),
            Self::Off | Self::NoGroupsClaim => None,
        }
    }

    /// What changed, for PERMISSIONS_SYNCED; `None` when nothing did.
    pub fn changes(&self) -> Option<Value> {
        match self {
            Self::Apply { before, after } if before != after => Some(changes(before, after)),
            _ => None,
        }
    }
}

/// What the mappings for `groups` grant, merged.
fn merged(mappings: &[GroupMapping], groups: &[String]) -> Grants {
    let hits: Vec<&GroupMapping> = mappings
        .iter()
        .filter(|m| groups.contains(&m.group_claim))
        .collect();
    Grants {
        is_admin: hits.iter().any(|m| m.is_admin),
        permissions: PERMISSIONS
            .iter()
            .map(|p| {
                hits.iter()
                    .any(|m| m.permissions.iter().any(|k| k == p.key))
            })
            .collect(),
        library_ids: hits
            .iter()
            .flat_map(|m| m.library_ids.iter().copied())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
    }
}

/// Group sync of a user who has `current`, for the groups claim `groups` (`None`: absent).
pub fn sync(
    mode: SyncMode,
    mappings: &[GroupMapping],
    groups: Option<&[String]>,
    current: &Grants,
) -> Sync {
    let Some(groups) = groups else {
        return match mode {
            SyncMode::Disabled => Sync::Off,
            SyncMode::Replace | SyncMode::Additive => Sync::NoGroupsClaim,
        };
    };
    let merge = merged(mappings, groups);
    let after = match mode {
        SyncMode::Disabled => return Sync::Off,
        SyncMode::Replace => merge,
        SyncMode::Additive => Grants {
            is_admin: current.is_admin || merge.is_admin,
            permissions: current
                .permissions
                .iter()
                .zip(&merge.permissions)
                .map(|(a, b)| *a || *b)
                .collect(),
            library_ids: current
                .library_ids
                .iter()
                .chain(&merge.library_ids)
                .copied()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
        },
    };
    Sync::Apply {
        before: current.clone(),
        after,
    }
}

/// What changed between two grants, for PERMISSIONS_SYNCED.
fn changes(before: &Grants, after: &Grants) -> Value {
    let names = |g: &Grants| -> BTreeSet<&'static str> {
        PERMISSIONS
            .iter()
            .zip(&g.permissions)
            .filter(|(_, on)| **on)
            .map(|(p, _)| p.key)
            .collect()
    };
    let (b, a) = (names(before), names(after));
    let (bl, al): (BTreeSet<i64>, BTreeSet<i64>) = (
        before.library_ids.iter().copied().collect(),
        after.library_ids.iter().copied().collect(),
    );
    serde_json::json!({
        "isAdmin": [before.is_admin, after.is_admin],
        "permissionsAdded": a.difference(&b).collect::<Vec<_>>(),
        "permissionsRemoved": b.difference(&a).collect::<Vec<_>>(),
        "librariesAdded": al.difference(&bl).collect::<Vec<_>>(),
        "librariesRemoved": bl.difference(&al).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Grants of these permissions and libraries (the decision's tests use it too).
    pub(in crate::auth::sign_in) fn grants(
        is_admin: bool,
        permissions: &[&str],
        library_ids: &[i64],
    ) -> Grants {
        Grants {
            is_admin,
            permissions: PERMISSIONS
                .iter()
                .map(|p| permissions.contains(&p.key))
                .collect(),
            library_ids: library_ids.to_vec(),
        }
    }

    /// A mapping of `group` (the decision's tests use it too).
    pub(in crate::auth::sign_in) fn mapping(
        group: &str,
        is_admin: bool,
        permissions: &[&str],
        libraries: &[i64],
    ) -> GroupMapping {
        GroupMapping {
            id: 0,
            group_claim: group.to_owned(),
            description: String::new(),
            is_admin,
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            library_ids: libraries.to_vec(),
        }
    }

    fn mappings() -> Vec<GroupMapping> {
        vec![
            mapping("readers", false, &["permissionDownload"], &[1]),
            mapping(
                "writers",
                false,
                &["permissionUpload", "permissionDownload"],
                &[2, 1],
            ),
            mapping("admins", true, &[], &[]),
        ]
    }

    fn groups(names: &[&str]) -> Vec<String> {
        names.iter().map(|g| (*g).to_owned()).collect()
    }

    fn after(mode: SyncMode, names: &[&str], current: &Grants) -> Option<Grants> {
        sync(mode, &mappings(), Some(&groups(names)), current)
            .grants()
            .cloned()
    }

    #[test]
    fn the_mappings_of_the_users_groups_merge_admin_if_any_and_unions() {
        let none = grants(false, &[], &[]);
        assert_eq!(
            after(SyncMode::Replace, &["readers", "writers"], &none),
            Some(grants(
                false,
                &["permissionDownload", "permissionUpload"],
                &[1, 2]
            ))
        );
        assert_eq!(
            after(SyncMode::Replace, &["readers", "admins"], &none),
            Some(grants(true, &["permissionDownload"], &[1]))
        );
    }

    #[test]
    fn group_values_match_exactly() {
        let none = grants(false, &[], &[]);
        assert_eq!(
            after(SyncMode::Replace, &["Readers", "readers "], &none),
            Some(none)
        );
    }

    #[test]
    fn replace_sets_exactly_the_merge() {
        let current = grants(
            true,
            &["permissionUpload", "permissionSyncKobo"],
            &[1, 2, 3],
        );
        // Leaving a group removes what it gave; what no mapping gives goes too.
        assert_eq!(
            after(SyncMode::Replace, &["readers"], &current),
            Some(grants(false, &["permissionDownload"], &[1]))
        );
        assert_eq!(
            after(SyncMode::Replace, &[], &current),
            Some(grants(false, &[], &[])),
            "an empty groups claim is not an absent one"
        );
    }

    #[test]
    fn additive_only_adds() {
        let current = grants(false, &["permissionSyncKobo"], &[3]);
        assert_eq!(
            after(SyncMode::Additive, &["writers", "admins"], &current),
            Some(grants(
                true,
                &[
                    "permissionSyncKobo",
                    "permissionUpload",
                    "permissionDownload"
                ],
                &[1, 2, 3]
            ))
        );
        let admin = grants(true, &[], &[5]);
        assert_eq!(after(SyncMode::Additive, &[], &admin), Some(admin.clone()));
    }

    #[test]
    fn an_absent_groups_claim_changes_nothing() {
        let current = grants(true, &["permissionUpload"], &[3]);
        for mode in [SyncMode::Replace, SyncMode::Additive] {
            assert_eq!(sync(mode, &mappings(), None, &current), Sync::NoGroupsClaim);
        }
        assert_eq!(
            sync(SyncMode::Disabled, &mappings(), None, &current),
            Sync::Off
        );
    }

    #[test]
    fn disabled_changes_nothing() {
        let current = grants(false, &[], &[]);
        let synced = sync(
            SyncMode::Disabled,
            &mappings(),
            Some(&groups(&["admins"])),
            &current,
        );
        assert_eq!(synced, Sync::Off);
        assert_eq!(synced.grants(), None);
        assert_eq!(synced.changes(), None);
    }

    #[test]
    fn the_stored_modes_are_read() {
        assert_eq!(SyncMode::parse("DISABLED"), SyncMode::Disabled);
        assert_eq!(SyncMode::parse("ON_LOGIN"), SyncMode::Replace);
        assert_eq!(SyncMode::parse("ON_LOGIN_ADDITIVE"), SyncMode::Additive);
    }

    #[test]
    fn changes_name_what_was_added_and_removed() {
        let current = grants(true, &["permissionUpload"], &[3]);
        let synced = sync(
            SyncMode::Replace,
            &mappings(),
            Some(&groups(&["readers"])),
            &current,
        );
        assert_eq!(
            synced.changes(),
            Some(serde_json::json!({
                "isAdmin": [true, false],
                "permissionsAdded": ["permissionDownload"],
                "permissionsRemoved": ["permissionUpload"],
                "librariesAdded": [1],
                "librariesRemoved": [3],
            }))
        );
        let same = sync(
            SyncMode::Additive,
            &mappings(),
            Some(&groups(&[])),
            &current,
        );
        assert_eq!(same.changes(), None);
        assert_eq!(same.grants(), Some(&current));
    }
}
