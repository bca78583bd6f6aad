//! The page table: every page's path and who may open it, written once. The router's routes
//! are made from it (`App`), the server's guard looks paths up in it, and the server loads
//! each page's data by it, in one exhaustive match (`routes::pages`). So a page added here is
//! routed, guarded and loaded, or the build says what is missing.

use leptos_router::{
    ParamSegment, PartialPathMatch, PathSegment, PossibleRouteMatch, StaticSegment,
};

/// Who may open a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Signed-in users; strangers are sent to sign in first.
    SignedIn,
    /// Admins; other signed-in users get the 403 page.
    Admin,
}

macro_rules! pages {
    ($($(#[$doc:meta])* $page:ident $path:literal $access:ident,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Page {
            $($(#[$doc])* $page,)*
        }

        impl Page {
            /// Every page, in table order.
            pub const ALL: &'static [Page] = &[$(Page::$page,)*];

            pub const fn path(self) -> &'static str {
                match self {
                    $(Page::$page => $path,)*
                }
            }

            pub const fn access(self) -> Access {
                match self {
                    $(Page::$page => Access::$access,)*
                }
            }
        }
    };
}

pages! {
    /// Greeting, who is signed in, and their libraries.
    Dashboard "/" SignedIn,
    /// "Welcome Back": the sign-in form and the OIDC button.
    Login "/login" Public,
    /// "Set Up Admin User", while no user exists.
    Setup "/setup" Public,
    /// The user's own details, password and identity link.
    Profile "/profile" SignedIn,
    Users "/admin/users" Admin,
    Libraries "/admin/libraries" Admin,
    Audit "/admin/audit" Admin,
    OidcSettings "/settings/oidc" Admin,
    /// Connect a device: its user code, then Allow or Deny.
    Device "/device" SignedIn,
    /// The report of a Try Sign-in dry run, for the admin who started it.
    TrySignIn "/settings/oidc/try/{id}" Admin,
}

impl Page {
    /// The page at exactly `path`, if any: a `{name}` segment of the table stands for any
    /// one non-empty segment.
    pub fn at(path: &str) -> Option<Page> {
        Self::ALL
            .iter()
            .copied()
            .find(|page| page.param_in(path).is_some())
    }

    /// The value of the page's `{name}` segment in `path` (empty for a page without one);
    /// `None` when `path` is not this page.
    pub fn param_in(self, path: &str) -> Option<&str> {
        let (mut pattern, mut given) = (self.path().split('/'), path.split('/'));
        let mut value = "";
        loop {
            match (pattern.next(), given.next()) {
                (None, None) => return Some(value),
                (Some(p), Some(g)) if p.starts_with('{') && !g.is_empty() => value = g,
                (Some(p), Some(g)) if p == g => {}
                _ => return None,
            }
        }
    }

    /// The page's path as a route.
    pub fn route(self) -> PagePath {
        PagePath(self.path())
    }
}

/// A page's path as a route: its segments, matched one after another (`path!` makes the same
/// from a literal, but the table's paths are values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PagePath(&'static str);

/// One segment of a page's path: fixed, or a `{name}` parameter.
enum Segment {
    Static(StaticSegment<&'static str>),
    Param(ParamSegment),
}

impl Segment {
    fn test<'a>(&self, path: &'a str) -> Option<PartialPathMatch<'a>> {
        match self {
            Segment::Static(s) => s.test(path),
            Segment::Param(p) => p.test(path),
        }
    }

    fn generate_path(&self, path: &mut Vec<PathSegment>) {
        match self {
            Segment::Static(s) => s.generate_path(path),
            Segment::Param(p) => p.generate_path(path),
        }
    }
}

impl PagePath {
    /// The segments; the root is the one empty segment, as `path!("/")` has it.
    fn segments(self) -> Vec<Segment> {
        let segments: Vec<_> = self
            .0
            .split('/')
            .filter(|s| !s.is_empty())
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => Segment::Param(ParamSegment(name)),
                    None => Segment::Static(StaticSegment(s)),
                },
            )
            .collect();
        if segments.is_empty() {
            vec![Segment::Static(StaticSegment(""))]
        } else {
            segments
        }
    }
}

impl PossibleRouteMatch for PagePath {
    fn optional(&self) -> bool {
        false
    }

    fn test<'a>(&self, path: &'a str) -> Option<PartialPathMatch<'a>> {
        let mut remaining = path;
        let mut params = Vec::new();
        for segment in self.segments() {
            let matched = segment.test(remaining)?;
            remaining = matched.remaining();
            params.extend(matched.params());
        }
        let matched = &path[..path.len() - remaining.len()];
        Some(PartialPathMatch::new(remaining, params, matched))
    }

    fn generate_path(&self, path: &mut Vec<PathSegment>) {
        for segment in self.segments() {
            segment.generate_path(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_unique_and_found_again() {
        for page in Page::ALL {
            assert_eq!(Page::at(page.path()), Some(*page));
        }
        assert_eq!(Page::at("/admin"), None);
        assert_eq!(Page::at("/admin/users/"), None);
    }

    #[test]
    fn a_parameter_segment_stands_for_one_segment() {
        assert_eq!(Page::at("/settings/oidc/try/abc"), Some(Page::TrySignIn));
        assert_eq!(
            Page::TrySignIn.param_in("/settings/oidc/try/abc"),
            Some("abc")
        );
        assert_eq!(Page::at("/settings/oidc/try/"), None);
        assert_eq!(Page::at("/settings/oidc/try/a/b"), None);
        assert!(Page::TrySignIn
            .route()
            .test("/settings/oidc/try/abc")
            .is_some_and(|m| m.is_complete()));
    }

    #[test]
    fn routes_match_their_whole_path_only() {
        let complete =
            |page: Page, path: &str| page.route().test(path).is_some_and(|m| m.is_complete());
        assert!(complete(Page::Dashboard, "/"));
        assert!(!complete(Page::Dashboard, "/login"));
        assert!(complete(Page::Users, "/admin/users"));
        assert!(!complete(Page::Users, "/admin/users-old"));
        assert!(!complete(Page::Users, "/admin"));
        assert!(!complete(Page::Audit, "/admin/users"));
    }
}
