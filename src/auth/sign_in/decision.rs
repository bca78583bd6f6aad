//! Who a proven OIDC identity is in Grimmory (spec section 5.1), and what group sync (5.4)
//! grants it, decided from facts loaded beforehand: no database, no clock, no I/O. The order
//! and the refusals are deliberate: they close the takeover and lockout bugs of the original
//! product. The transaction that applies the plan (`Db::apply_sign_in`) checks again what a
//! concurrent sign-in or edit may have changed, and keeps the admin invariants.

use super::claims::Claims;
use super::group_sync::{self, Sync, SyncMode};
use super::Intent;
use crate::clock::Millis;
use crate::db::oidc_users::{ClaimCheck, Grants, SignInPlan, Target};
use crate::db::{AuditEntry, AuditEvent, GroupMapping, NewUser};
use crate::validation;
use app::domain::PERMISSIONS;
use std::collections::BTreeSet;

/// A user as the decision sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub is_admin: bool,
    pub has_password: bool,
    /// The email an admin gave the account, if any.
    pub email: Option<String>,
    /// Linked to an OIDC identity. Read before the identity's own link (`facts::load`), so
    /// an account linked meanwhile to this very identity shows up as [`Facts::linked`].
    pub linked: bool,
    /// Admin flag, permissions and libraries now.
    pub grants: Grants,
}

/// The settings that decide (spec sections 5.3 and 5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub auto_provisioning: bool,
    pub allow_local_account_linking: bool,
    pub sync_mode: SyncMode,
    /// Permission names (JSON keys) a new user gets.
    pub default_permissions: Vec<String>,
    pub default_library_ids: Vec<i64>,
}

/// What the decision reads: the proven identity, its claims, and the users it may be.
#[derive(Debug, Clone)]
pub struct Facts {
    pub intent: Intent,
    pub issuer: String,
    pub subject: String,
    pub claims: Claims,
    /// The user linked to (issuer, subject).
    pub linked: Option<Account>,
    /// For intent link: the signed-in user who asked, unless deleted since.
    pub link_target: Option<Account>,
    /// For intent login: the user whose username equals [`username_to_match`] exactly.
    pub username_match: Option<Account>,
    pub mappings: Vec<GroupMapping>,
    /// Ids of the libraries that exist, at least among the default ones.
    pub libraries: BTreeSet<i64>,
    pub policy: Policy,
    pub ip: String,
    /// Set when userinfo could not be used; audited with the success.
    pub userinfo_warning: Option<String>,
}

/// A user to provision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub username: String,
    pub email: Option<String>,
    pub name: String,
    /// One flag per entry of [`PERMISSIONS`]; never admin.
    pub permissions: Vec<bool>,
    pub library_ids: Vec<i64>,
}

/// How the identity finds its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Way {
    /// By its (issuer, subject) link.
    Linked(i64),
    /// Linked now to the signed-in user who asked from /profile.
    LinkedFromProfile(i64),
    /// An account without a password, claimed by its username.
    Claimed(i64),
    /// An account with a password, linked by its username ("Link Existing Local Accounts").
    LinkedByUsername(i64),
    /// A new user.
    Provisioned(NewAccount),
}

/// Why the identity gets no session (the `link_refused` and `not_provisioned` of spec 5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    LinkRefused,
    /// No user matched and provisioning is off; the mapped username, for the audit log.
    NotProvisioned {
        username: String,
    },
}

/// Who the identity is, and what signing in changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub way: Way,
    pub sync: Sync,
    /// The email and display name from the claims, for an existing user.
    pub email: Option<String>,
    pub name: Option<String>,
    /// The grants group sync starts from: the user's own, or a new user's defaults.
    pub start: Grants,
}

/// The username an existing account is matched by: the mapped username claim exactly, never
/// a fallback (spec section 4, step 6).
pub fn username_to_match(claims: &Claims) -> Option<&str> {
    claims.username.as_deref()
}

/// Decides who the identity is (spec section 5.1, in order) and what group sync grants it.
pub fn decide(f: &Facts) -> Result<Decision, Refusal> {
    let (way, before) = way(f)?;
    let existing = !matches!(way, Way::Provisioned(_));
    Ok(Decision {
        sync: group_sync::sync(
            f.policy.sync_mode,
            &f.mappings,
            f.claims.groups.as_deref(),
            &before,
        ),
        email: valid_email(&f.claims).filter(|_| existing),
        name: f.claims.name.clone().filter(|_| existing),
        way,
        start: before,
    })
}

/// The way, and the grants group sync starts from.
fn way(f: &Facts) -> Result<(Way, Grants), Refusal> {
    let existing = |way: fn(i64) -> Way, user: &Account| Ok((way(user.id), user.grants.clone()));
    if let Intent::Link(id) = f.intent {
        return match (&f.linked, &f.link_target) {
            // Linked already to the user who asks: nothing to link.
            (Some(linked), _) if linked.id == id => existing(Way::Linked, linked),
            (None, Some(target)) if !target.linked => existing(Way::LinkedFromProfile, target),
            // Linked to someone else; or the user who asks has another identity (a user has
            // at most one), or was deleted since.
            _ => Err(Refusal::LinkRefused),
        };
    }
    if let Some(linked) = &f.linked {
        return existing(Way::Linked, linked);
    }
    if let Some(user) = &f.username_match {
        // Admins are never linked by username, with or without a password: they link
        // themselves from /profile.
        return if user.linked || user.is_admin {
            Err(Refusal::LinkRefused)
        } else if !user.has_password {
            if email_agrees(user.email.as_deref(), &f.claims) {
                existing(Way::Claimed, user)
            } else {
                Err(Refusal::LinkRefused)
            }
        } else if f.policy.allow_local_account_linking {
            existing(Way::LinkedByUsername, user)
        } else {
            Err(Refusal::LinkRefused)
        };
    }
    if !f.policy.auto_provisioning {
        return Err(Refusal::NotProvisioned {
            username: f.claims.username.clone().unwrap_or_default(),
        });
    }
    let new = provisioned(f);
    let before = Grants {
        is_admin: false,
        permissions: new.permissions.clone(),
        library_ids: new.library_ids.clone(),
    };
    Ok((Way::Provisioned(new), before))
}

/// The provider's email, when it may vouch for an account: present and not said to be
/// unverified. Compared as sent.
fn vouching_email(c: &Claims) -> Option<&str> {
    c.email
        .as_deref()
        .filter(|_| c.email_verified != Some(false))
}

/// Whether a password-less account may be claimed by this identity (spec section 5.1, step
/// 3): it has no email, or the provider vouches for that very email. A provider where users
/// pick their own username cannot hand them someone else's pre-created account.
fn email_agrees(account_email: Option<&str>, c: &Claims) -> bool {
    account_email.is_none_or(|email| vouching_email(c) == Some(email))
}

/// The provider's email as stored: valid, and tidied (claims are kept as sent for matching).
fn valid_email(c: &Claims) -> Option<String> {
    validation::email(c.email.as_deref()).ok().flatten()
}

/// A new user from the claims, with the default permissions and the default libraries that
/// exist.
fn provisioned(f: &Facts) -> NewAccount {
    let c = &f.claims;
    // The fallbacks only name a new user; they never match an existing one.
    let wanted = c
        .username
        .clone()
        .or_else(|| c.email.clone())
        .unwrap_or_else(|| f.subject.clone());
    let username = validation::username(Some(&wanted)).unwrap_or_else(|_| {
        f.subject
            .chars()
            .filter(|ch| !ch.is_whitespace())
            .take(64)
            .collect()
    });
    NewAccount {
        name: c.name.clone().unwrap_or_else(|| username.clone()),
        email: valid_email(c),
        username,
        permissions: PERMISSIONS
            .iter()
            .map(|p| f.policy.default_permissions.iter().any(|k| k == p.key))
            .collect(),
        library_ids: f
            .policy
            .default_library_ids
            .iter()
            .copied()
            .filter(|id| f.libraries.contains(id))
            .collect(),
    }
}

impl Decision {
    /// What the transaction applies: the target, the link, the grants and the audit entries.
    pub fn into_plan(self, f: &Facts, now: Millis) -> SignInPlan {
        let linked = |via: &str| {
            AuditEntry::new(AuditEvent::OidcAccountLinked, now)
                .ip(&f.ip)
                .detail("issuer", f.issuer.as_str())
                .detail("via", via)
        };
        let mut audits = Vec::new();
        // A username match is checked again inside the transaction: the account may have
        // changed since it was read.
        let by_username = Some(ClaimCheck {
            allow_password_link: f.policy.allow_local_account_linking,
            email: vouching_email(&f.claims).map(str::to_owned),
        });
        let (target, link, claim_check) = match self.way {
            Way::Linked(id) => (Target::Existing(id), false, None),
            Way::LinkedFromProfile(id) => {
                audits.push(linked("profile").actor(id));
                (Target::Existing(id), true, None)
            }
            Way::Claimed(id) => {
                audits.push(linked("claimed"));
                (Target::Existing(id), true, by_username)
            }
            Way::LinkedByUsername(id) => {
                audits.push(linked("username"));
                (Target::Existing(id), true, by_username)
            }
            Way::Provisioned(new) => {
                audits.push(
                    AuditEntry::new(AuditEvent::OidcUserProvisioned, now)
                        .ip(&f.ip)
                        .detail("issuer", f.issuer.as_str())
                        .detail("username", new.username.as_str()),
                );
                let user = NewUser {
                    username: new.username,
                    email: new.email,
                    name: new.name,
                    password_hash: None,
                    is_admin: false,
                    permissions: new.permissions,
                };
                (Target::New(user, new.library_ids), true, None)
            }
        };
        if let Some(changes) = self.sync.changes() {
            audits.push(
                AuditEntry::new(AuditEvent::PermissionsSynced, now)
                    .ip(&f.ip)
                    .detail("changes", changes),
            );
        } else if self.sync == Sync::NoGroupsClaim {
            audits.push(
                AuditEntry::new(AuditEvent::PermissionsSynced, now)
                    .ip(&f.ip)
                    .detail("skipped", "the groups claim is absent; nothing changed"),
            );
        }
        let mut success = AuditEntry::new(AuditEvent::OidcLoginSuccess, now)
            .ip(&f.ip)
            .detail("issuer", f.issuer.as_str())
            .detail("subject", f.subject.as_str());
        if let Some(w) = &f.userinfo_warning {
            success = success.detail("warning", w.as_str());
        }
        audits.push(success);
        SignInPlan {
            target,
            link: link.then(|| (f.issuer.clone(), f.subject.clone())),
            claim_check,
            email: self.email,
            name: self.name,
            grants: self.sync.grants().cloned(),
            audits,
        }
    }
}

/// The claims of a refreshed ID token applied to its user (spec section 7): email, display
/// name and group sync, under the rules of a sign-in.
pub fn refresh_plan(
    user_id: i64,
    current: &Grants,
    claims: Claims,
    mappings: &[GroupMapping],
    mode: SyncMode,
    now: Millis,
) -> SignInPlan {
    let sync = group_sync::sync(mode, mappings, claims.groups.as_deref(), current);
    let audits = sync
        .changes()
        .map(|changes| {
            AuditEntry::new(AuditEvent::PermissionsSynced, now)
                .detail("changes", changes)
                .detail("via", "refresh")
        })
        .into_iter()
        .collect();
    SignInPlan {
        target: Target::Existing(user_id),
        link: None,
        claim_check: None,
        email: valid_email(&claims),
        name: claims.name,
        grants: sync.grants().cloned(),
        audits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::sign_in::group_sync::tests::{grants, mapping};

    const ISSUER: &str = "https://idp.example.org";
    const SUBJECT: &str = "sub-1";

    fn account(id: i64) -> Account {
        Account {
            id,
            is_admin: false,
            has_password: false,
            email: None,
            linked: false,
            grants: grants(false, &[], &[]),
        }
    }

    fn with_password(a: Account) -> Account {
        Account {
            has_password: true,
            ..a
        }
    }

    fn admin(a: Account) -> Account {
        Account {
            is_admin: true,
            grants: grants(true, &[], &[]),
            ..a
        }
    }

    fn linked(a: Account) -> Account {
        Account { linked: true, ..a }
    }

    /// A first sign-in of "rita", with every setting at its default.
    fn facts() -> Facts {
        Facts {
            intent: Intent::Login,
            issuer: ISSUER.to_owned(),
            subject: SUBJECT.to_owned(),
            claims: Claims {
                username: Some("rita".to_owned()),
                email: Some("rita@example.org".to_owned()),
                email_verified: None,
                name: Some("Rita".to_owned()),
                groups: None,
            },
            linked: None,
            link_target: None,
            username_match: None,
            mappings: Vec::new(),
            libraries: BTreeSet::new(),
            policy: Policy {
                auto_provisioning: false,
                allow_local_account_linking: false,
                sync_mode: SyncMode::Disabled,
                default_permissions: Vec::new(),
                default_library_ids: Vec::new(),
            },
            ip: "192.0.2.7".to_owned(),
            userinfo_warning: None,
        }
    }

    fn provisioning() -> Facts {
        let mut f = facts();
        f.policy.auto_provisioning = true;
        f
    }

    fn way(f: &Facts) -> Result<Way, Refusal> {
        decide(f).map(|d| d.way)
    }

    fn new_account(f: &Facts) -> NewAccount {
        match way(f) {
            Ok(Way::Provisioned(new)) => new,
            other => panic!("not provisioned: {other:?}"),
        }
    }

    fn plan(f: &Facts) -> SignInPlan {
        decide(f).expect("decided").into_plan(f, 1_000)
    }

    fn audited(plan: &SignInPlan, event: AuditEvent) -> usize {
        plan.audits.iter().filter(|a| a.is(event)).count()
    }

    // 5.1 step 1: the (issuer, subject) link.

    #[test]
    fn the_identity_link_comes_first() {
        let mut f = facts();
        f.linked = Some(linked(account(7)));
        // Whatever the username says now, and with provisioning off.
        f.username_match = Some(admin(with_password(account(1))));
        assert_eq!(way(&f), Ok(Way::Linked(7)));
    }

    #[test]
    fn a_returning_user_is_not_linked_again_and_gets_email_and_name_refreshed() {
        let mut f = facts();
        f.linked = Some(linked(account(7)));
        let d = decide(&f).unwrap();
        assert_eq!(d.email.as_deref(), Some("rita@example.org"));
        assert_eq!(d.name.as_deref(), Some("Rita"));
        let p = d.into_plan(&f, 1_000);
        assert!(matches!(p.target, Target::Existing(7)));
        assert_eq!(p.link, None);
        assert_eq!(p.claim_check, None);
        assert_eq!(p.grants, None, "sync is off");
        assert_eq!(p.audits.len(), 1);
        assert_eq!(audited(&p, AuditEvent::OidcLoginSuccess), 1);
    }

    #[test]
    fn an_invalid_email_is_never_stored() {
        let mut f = facts();
        f.claims.email = Some("not an email".to_owned());
        f.linked = Some(linked(account(7)));
        assert_eq!(decide(&f).unwrap().email, None);
        f.linked = None;
        f.policy.auto_provisioning = true;
        assert_eq!(new_account(&f).email, None);
    }

    // 5.1 step 2: intent link, from /profile.

    #[test]
    fn linking_from_the_profile_links_the_signed_in_user() {
        let mut f = facts();
        f.intent = Intent::Link(5);
        // Admins and password accounts link themselves this way.
        f.link_target = Some(admin(with_password(account(5))));
        assert_eq!(way(&f), Ok(Way::LinkedFromProfile(5)));
        let p = plan(&f);
        assert!(matches!(p.target, Target::Existing(5)));
        assert_eq!(p.link, Some((ISSUER.to_owned(), SUBJECT.to_owned())));
        assert_eq!(p.claim_check, None);
        assert_eq!(audited(&p, AuditEvent::OidcAccountLinked), 1);
    }

    #[test]
    fn linking_an_identity_already_ones_own_changes_nothing() {
        let mut f = facts();
        f.intent = Intent::Link(5);
        f.link_target = Some(linked(account(5)));
        f.linked = Some(linked(account(5)));
        assert_eq!(way(&f), Ok(Way::Linked(5)));
        assert_eq!(plan(&f).link, None);
    }

    #[test]
    fn an_identity_linked_to_someone_else_is_not_linked_from_the_profile() {
        let mut f = facts();
        f.intent = Intent::Link(5);
        f.link_target = Some(account(5));
        f.linked = Some(linked(account(9)));
        assert_eq!(way(&f), Err(Refusal::LinkRefused));
    }

    #[test]
    fn a_user_with_another_identity_cannot_link_a_second() {
        let mut f = facts();
        f.intent = Intent::Link(5);
        f.link_target = Some(linked(account(5)));
        assert_eq!(way(&f), Err(Refusal::LinkRefused));
    }

    #[test]
    fn a_user_deleted_since_the_start_is_not_linked() {
        let mut f = provisioning();
        f.intent = Intent::Link(5);
        assert_eq!(way(&f), Err(Refusal::LinkRefused));
    }

    #[test]
    fn linking_never_falls_back_to_the_username_or_provisioning() {
        let mut f = provisioning();
        f.intent = Intent::Link(5);
        f.username_match = Some(account(6));
        assert_eq!(way(&f), Err(Refusal::LinkRefused));
    }

    // 5.1 step 3: a user whose username equals the mapped username.

    #[test]
    fn only_the_mapped_username_is_matched_never_a_fallback() {
        let mut c = facts().claims;
        assert_eq!(username_to_match(&c), Some("rita"));
        c.username = None;
        assert_eq!(
            username_to_match(&c),
            None,
            "not the email, not the subject"
        );
    }

    #[test]
    fn admins_are_never_linked_by_username() {
        for has_password in [false, true] {
            for allow in [false, true] {
                let mut f = provisioning();
                f.policy.allow_local_account_linking = allow;
                f.username_match = Some(Account {
                    has_password,
                    ..admin(account(1))
                });
                assert_eq!(
                    way(&f),
                    Err(Refusal::LinkRefused),
                    "password {has_password}, linking {allow}"
                );
            }
        }
    }

    #[test]
    fn an_account_without_a_password_is_claimed_by_its_username() {
        let mut f = provisioning();
        f.username_match = Some(account(3));
        assert_eq!(way(&f), Ok(Way::Claimed(3)));
        let p = plan(&f);
        assert!(matches!(p.target, Target::Existing(3)));
        assert_eq!(p.link, Some((ISSUER.to_owned(), SUBJECT.to_owned())));
        // Checked again in the transaction: the account may have changed since.
        assert_eq!(
            p.claim_check,
            Some(ClaimCheck {
                allow_password_link: false,
                email: Some("rita@example.org".to_owned()),
            })
        );
        assert_eq!(audited(&p, AuditEvent::OidcAccountLinked), 1);
        assert_eq!(audited(&p, AuditEvent::OidcUserProvisioned), 0);
    }

    #[test]
    fn an_account_with_an_email_is_claimed_only_by_that_email_unless_unverified() {
        let with_email = |email: &str| Account {
            email: Some(email.to_owned()),
            ..account(3)
        };
        let mut f = provisioning();
        f.username_match = Some(with_email("rita@example.org"));
        assert_eq!(way(&f), Ok(Way::Claimed(3)));
        f.claims.email_verified = Some(true);
        assert_eq!(way(&f), Ok(Way::Claimed(3)));
        f.claims.email_verified = Some(false);
        assert_eq!(way(&f), Err(Refusal::LinkRefused), "unverified");
        f.claims.email_verified = None;
        f.username_match = Some(with_email("someone@example.org"));
        assert_eq!(way(&f), Err(Refusal::LinkRefused), "another email");
        f.username_match = Some(with_email("Rita@example.org"));
        assert_eq!(way(&f), Err(Refusal::LinkRefused), "compared as sent");
        f.claims.email = None;
        f.username_match = Some(with_email("rita@example.org"));
        assert_eq!(
            way(&f),
            Err(Refusal::LinkRefused),
            "no email from the provider"
        );
        // An account without an email is claimed whatever the provider says of its own.
        f.claims.email_verified = Some(false);
        f.username_match = Some(account(3));
        assert_eq!(way(&f), Ok(Way::Claimed(3)));
    }

    #[test]
    fn an_account_with_a_password_is_linked_only_when_local_linking_is_on() {
        let mut f = provisioning();
        f.username_match = Some(with_password(account(3)));
        assert_eq!(way(&f), Err(Refusal::LinkRefused));
        f.policy.allow_local_account_linking = true;
        assert_eq!(way(&f), Ok(Way::LinkedByUsername(3)));
        let p = plan(&f);
        assert!(p
            .claim_check
            .as_ref()
            .is_some_and(|c| c.allow_password_link));
        assert_eq!(audited(&p, AuditEvent::OidcAccountLinked), 1);
    }

    #[test]
    fn an_account_linked_to_another_identity_is_refused() {
        for has_password in [false, true] {
            let mut f = provisioning();
            f.policy.allow_local_account_linking = true;
            f.username_match = Some(Account {
                has_password,
                ..linked(account(3))
            });
            assert_eq!(
                way(&f),
                Err(Refusal::LinkRefused),
                "password {has_password}"
            );
        }
    }

    #[test]
    fn linking_by_username_keeps_the_accounts_grants_when_sync_is_off() {
        let mut f = facts();
        f.policy.allow_local_account_linking = true;
        f.username_match = Some(Account {
            grants: grants(false, &["permissionUpload"], &[4]),
            ..with_password(account(3))
        });
        f.claims.groups = Some(vec!["readers".to_owned()]);
        f.mappings = vec![mapping("readers", true, &[], &[])];
        assert_eq!(plan(&f).grants, None);
    }

    // 5.1 step 4: provisioning.

    #[test]
    fn provisioning_grants_the_default_permissions_and_never_admin() {
        let mut f = provisioning();
        f.policy.default_permissions = vec![
            "permissionUpload".to_owned(),
            "permissionSyncKobo".to_owned(),
        ];
        let new = new_account(&f);
        assert_eq!(
            new,
            NewAccount {
                username: "rita".to_owned(),
                email: Some("rita@example.org".to_owned()),
                name: "Rita".to_owned(),
                permissions: grants(false, &["permissionUpload", "permissionSyncKobo"], &[])
                    .permissions,
                library_ids: Vec::new(),
            }
        );
        let p = plan(&f);
        let Target::New(user, _) = &p.target else {
            panic!("not a new user");
        };
        assert!(!user.is_admin);
        assert!(user.password_hash.is_none());
        assert_eq!(p.link, Some((ISSUER.to_owned(), SUBJECT.to_owned())));
        assert_eq!(p.email, None, "a new user has the claims already");
        assert_eq!(p.name, None);
        assert_eq!(audited(&p, AuditEvent::OidcUserProvisioned), 1);
        assert_eq!(audited(&p, AuditEvent::OidcLoginSuccess), 1);
    }

    #[test]
    fn all_26_default_permissions_are_honoured() {
        let mut f = provisioning();
        f.policy.default_permissions = PERMISSIONS.iter().map(|p| p.key.to_owned()).collect();
        assert_eq!(new_account(&f).permissions, vec![true; 26]);
    }

    #[test]
    fn unknown_default_libraries_are_dropped() {
        let mut f = provisioning();
        f.policy.default_library_ids = vec![3, 1, 2];
        f.libraries = BTreeSet::from([1, 3]);
        assert_eq!(new_account(&f).library_ids, vec![3, 1]);
        let Target::New(_, libraries) = plan(&f).target else {
            panic!("not a new user");
        };
        assert_eq!(libraries, vec![3, 1]);
    }

    #[test]
    fn a_new_user_is_named_by_username_then_email_then_subject() {
        let mut f = provisioning();
        assert_eq!(new_account(&f).username, "rita");
        f.claims.username = None;
        assert_eq!(new_account(&f).username, "rita@example.org");
        f.claims.email = None;
        assert_eq!(new_account(&f).username, SUBJECT);
    }

    #[test]
    fn a_name_that_is_no_valid_username_falls_back_to_the_subject() {
        let mut f = provisioning();
        f.subject = "sub with spaces".to_owned();
        f.claims.username = Some("two words".to_owned());
        assert_eq!(new_account(&f).username, "subwithspaces");
        f.claims.username = Some("x".repeat(65));
        assert_eq!(new_account(&f).username, "subwithspaces");
    }

    #[test]
    fn the_display_name_falls_back_to_the_username() {
        let mut f = provisioning();
        f.claims.name = None;
        assert_eq!(new_account(&f).name, "rita");
    }

    // 5.1 step 5: not provisioned.

    #[test]
    fn without_provisioning_an_unknown_identity_is_refused_with_its_username() {
        let mut f = facts();
        assert_eq!(
            way(&f),
            Err(Refusal::NotProvisioned {
                username: "rita".to_owned()
            })
        );
        // The fallbacks never stand in for the mapped username.
        f.claims.username = None;
        assert_eq!(
            way(&f),
            Err(Refusal::NotProvisioned {
                username: String::new()
            })
        );
    }

    // 5.4: group sync at sign-in.

    #[test]
    fn a_mapping_can_make_a_new_user_admin() {
        let mut f = provisioning();
        f.policy.sync_mode = SyncMode::Replace;
        f.claims.groups = Some(vec!["admins".to_owned()]);
        f.mappings = vec![mapping("admins", true, &[], &[])];
        let p = plan(&f);
        assert_eq!(p.grants, Some(grants(true, &[], &[])));
        assert_eq!(audited(&p, AuditEvent::PermissionsSynced), 1);
    }

    #[test]
    fn replace_sets_a_new_user_to_exactly_the_merge() {
        let mut f = provisioning();
        f.policy.default_permissions = vec!["permissionUpload".to_owned()];
        f.policy.default_library_ids = vec![1];
        f.libraries = BTreeSet::from([1, 2]);
        f.policy.sync_mode = SyncMode::Replace;
        f.claims.groups = Some(vec!["readers".to_owned()]);
        f.mappings = vec![mapping("readers", false, &["permissionDownload"], &[2])];
        assert_eq!(
            plan(&f).grants,
            Some(grants(false, &["permissionDownload"], &[2]))
        );
        f.policy.sync_mode = SyncMode::Additive;
        assert_eq!(
            plan(&f).grants,
            Some(grants(
                false,
                &["permissionUpload", "permissionDownload"],
                &[1, 2]
            ))
        );
    }

    #[test]
    fn an_absent_groups_claim_changes_nothing_and_the_audit_log_says_why() {
        for mode in [SyncMode::Replace, SyncMode::Additive] {
            let mut f = facts();
            f.policy.sync_mode = mode;
            f.linked = Some(Account {
                grants: grants(false, &["permissionUpload"], &[4]),
                ..linked(account(7))
            });
            f.mappings = vec![mapping("readers", true, &["permissionDownload"], &[2])];
            let d = decide(&f).unwrap();
            assert_eq!(d.sync, Sync::NoGroupsClaim, "{mode:?}");
            let p = d.into_plan(&f, 1_000);
            assert_eq!(p.grants, None, "{mode:?}");
            assert_eq!(audited(&p, AuditEvent::PermissionsSynced), 1, "{mode:?}");
        }
    }

    #[test]
    fn grants_that_stay_the_same_are_applied_but_not_audited_as_changed() {
        let mut f = facts();
        f.policy.sync_mode = SyncMode::Replace;
        f.linked = Some(Account {
            grants: grants(false, &["permissionDownload"], &[2]),
            ..linked(account(7))
        });
        f.claims.groups = Some(vec!["readers".to_owned()]);
        f.mappings = vec![mapping("readers", false, &["permissionDownload"], &[2])];
        let p = plan(&f);
        assert_eq!(p.grants, Some(grants(false, &["permissionDownload"], &[2])));
        assert_eq!(audited(&p, AuditEvent::PermissionsSynced), 0);
    }

    #[test]
    fn replace_may_demote_an_admin_and_the_transaction_keeps_the_invariants() {
        // The decision asks for what the mappings say; `apply_sign_in` refuses to remove the
        // last admin (SYNC_REFUSED) and keeps the rest of the change.
        let mut f = facts();
        f.policy.sync_mode = SyncMode::Replace;
        f.linked = Some(admin(linked(account(1))));
        f.claims.groups = Some(vec!["readers".to_owned()]);
        f.mappings = vec![mapping("readers", false, &["permissionDownload"], &[2])];
        let p = plan(&f);
        assert_eq!(p.grants, Some(grants(false, &["permissionDownload"], &[2])));
        assert_eq!(audited(&p, AuditEvent::PermissionsSynced), 1);
    }

    // Refresh (spec section 7): the same claims rules.

    #[test]
    fn a_refresh_syncs_groups_and_refreshes_email_and_name() {
        let claims = Claims {
            groups: Some(vec!["readers".to_owned()]),
            email: Some("bad email".to_owned()),
            ..facts().claims
        };
        let mappings = [mapping("readers", false, &["permissionDownload"], &[2])];
        let before = grants(false, &["permissionUpload"], &[]);
        let p = refresh_plan(7, &before, claims, &mappings, SyncMode::Replace, 1_000);
        assert!(matches!(p.target, Target::Existing(7)));
        assert_eq!(p.link, None);
        assert_eq!(p.claim_check, None);
        assert_eq!(p.email, None);
        assert_eq!(p.name.as_deref(), Some("Rita"));
        assert_eq!(p.grants, Some(grants(false, &["permissionDownload"], &[2])));
        assert_eq!(audited(&p, AuditEvent::PermissionsSynced), 1);
        let unchanged = refresh_plan(
            7,
            &before,
            facts().claims,
            &mappings,
            SyncMode::Replace,
            1_000,
        );
        assert_eq!(unchanged.grants, None, "no groups claim");
        assert!(unchanged.audits.is_empty());
    }
}
