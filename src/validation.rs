//! Field rules shared by every form that names a user.

use app::domain::FieldError;

pub struct Fields(Vec<FieldError>);

impl Fields {
    pub fn new() -> Self {
        Self(Vec::new())
    }

    pub fn add(&mut self, field: &str, message: &str) {
        self.0.push(FieldError {
            field: field.to_owned(),
            message: message.to_owned(),
        });
    }

    /// `Ok` when no field was refused.
    pub fn finish(self) -> Result<(), crate::error::AppError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(crate::error::AppError::Validation(self.0))
        }
    }
}

impl Default for Fields {
    fn default() -> Self {
        Self::new()
    }
}

/// The names of a new user, as every form that creates one asks for them.
pub struct NewUserNames {
    pub username: String,
    pub email: Option<String>,
    pub name: String,
}

/// Checks username, email and display name together, noting each refused one in `fields`;
/// `None` when any was refused.
pub fn new_user_names(
    fields: &mut Fields,
    username_in: Option<&str>,
    email_in: Option<&str>,
    name_in: Option<&str>,
) -> Option<NewUserNames> {
    let username = username(username_in)
        .map_err(|m| fields.add("username", m))
        .ok();
    let email = email(email_in).map_err(|m| fields.add("email", m)).ok();
    let name = display_name(name_in, username.as_deref().unwrap_or(""))
        .map_err(|m| fields.add("name", m))
        .ok();
    Some(NewUserNames {
        username: username?,
        email: email?,
        name: name?,
    })
}

/// A trimmed username, or the message saying what is wrong with it.
pub fn username(value: Option<&str>) -> Result<String, &'static str> {
    let v = value.map(str::trim).unwrap_or("");
    if v.is_empty() {
        Err("Username is required.")
    } else if v.chars().count() > 64 {
        Err("Username must be at most 64 characters.")
    } else if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err("Username must not contain spaces.")
    } else {
        Ok(v.to_owned())
    }
}

/// An optional email: empty means none.
pub fn email(value: Option<&str>) -> Result<Option<String>, &'static str> {
    let v = value.map(str::trim).unwrap_or("");
    if v.is_empty() {
        return Ok(None);
    }
    let valid = v.len() <= 254
        && !v.chars().any(|c| c.is_whitespace() || c.is_control())
        && v.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        });
    if valid {
        Ok(Some(v.to_owned()))
    } else {
        Err("Enter a valid email address.")
    }
}

/// A display name; empty falls back to `fallback`.
pub fn display_name(value: Option<&str>, fallback: &str) -> Result<String, &'static str> {
    let v = value.map(str::trim).unwrap_or("");
    if v.chars().count() > 128 {
        Err("Display name must be at most 128 characters.")
    } else if v.chars().any(char::is_control) {
        Err("Display name must not contain control characters.")
    } else if v.is_empty() {
        Ok(fallback.to_owned())
    } else {
        Ok(v.to_owned())
    }
}

/// A new password: 8 to 72 characters (argon2 has no length limit; 72 keeps parity with the
/// original product and bounds hashing work).
pub fn new_password(value: Option<&str>) -> Result<String, &'static str> {
    let v = value.unwrap_or("");
    let n = v.chars().count();
    if n == 0 {
        Err("Password is required.")
    } else if n < 8 {
        Err("Password must be at least 8 characters.")
    } else if n > 72 {
        Err("Password must be at most 72 characters.")
    } else {
        Ok(v.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(username(Some("  ")).is_err());
        assert!(username(Some("a b")).is_err());
        assert_eq!(username(Some(" Alice ")).unwrap(), "Alice");
        assert_eq!(email(Some("")).unwrap(), None);
        assert!(email(Some("nope")).is_err());
        assert!(email(Some("a@b")).is_err());
        assert!(email(Some("a@b.org")).is_ok());
        assert_eq!(display_name(Some(""), "alice").unwrap(), "alice");
        assert!(new_password(Some("short")).is_err());
        assert!(new_password(Some(&"x".repeat(73))).is_err());
        assert!(new_password(Some("long enough")).is_ok());
    }
}
