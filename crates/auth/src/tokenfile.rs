//! Static bearer tokens from a kube-apiserver `--token-auth-file`: CSV records
//! `token,user,uid[,"group1,group2"[,ignored...]]`, read once at startup as upstream does.

use std::collections::HashMap;
use std::path::Path;

use crate::authn::{TokenAuthenticator, UserInfo};
use crate::error::{AuthError, PkiError};

/// Token → user table loaded from a token file.
#[derive(Clone, Default)]
pub struct StaticTokens {
    tokens: HashMap<String, UserInfo>,
}

impl std::fmt::Debug for StaticTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The map keys are secrets; show only how many there are.
        f.debug_struct("StaticTokens")
            .field("count", &self.tokens.len())
            .finish()
    }
}

impl StaticTokens {
    /// Loads a token file; errors on records with fewer than 3 columns or malformed CSV.
    pub fn from_file(path: &Path) -> Result<StaticTokens, PkiError> {
        let contents = std::fs::read_to_string(path).map_err(|e| PkiError::io(path, e))?;
        Self::parse(&contents).map_err(|reason| PkiError::TokenFile {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Parses token-file contents (see module docs for the format).
    pub fn parse(contents: &str) -> Result<StaticTokens, String> {
        let mut tokens = HashMap::new();
        for (index, record) in parse_csv(contents)?.into_iter().enumerate() {
            let record_number = index + 1;
            if record.len() < 3 {
                return Err(format!(
                    "must have at least 3 columns (token, user name, user uid), found {} in record {record_number}",
                    record.len()
                ));
            }
            if record[0].is_empty() {
                tracing::warn!(record_number, "empty token in token file; skipping");
                continue;
            }
            let groups = match record.get(3) {
                Some(groups) => groups.split(',').map(str::to_string).collect(),
                None => Vec::new(),
            };
            let user = UserInfo {
                name: record[1].clone(),
                uid: record[2].clone(),
                groups,
                extra: Default::default(),
            };
            if tokens.insert(record[0].clone(), user).is_some() {
                tracing::warn!(
                    record_number,
                    "duplicate token in token file; last one wins"
                );
            }
        }
        Ok(StaticTokens { tokens })
    }

    /// Number of tokens loaded.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether no tokens were loaded.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

impl TokenAuthenticator for StaticTokens {
    fn authenticate_token(&self, token: &str) -> Result<Option<UserInfo>, AuthError> {
        Ok(self.tokens.get(token).cloned())
    }
}

/// RFC 4180 CSV as Go's `encoding/csv` reads it: quoted fields with `""` escapes (which may
/// span lines), `\r\n` or `\n` line ends, blank lines skipped, stray quotes in bare fields
/// rejected.
fn parse_csv(input: &str) -> Result<Vec<Vec<String>>, String> {
    let mut records = Vec::new();
    let mut record: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut chars = input.chars().peekable();
    let mut line = 1usize;
    // Whether the current record has any content yet (distinguishes blank lines).
    let mut started = false;

    while let Some(c) = chars.next() {
        match c {
            '"' if field.is_empty() => {
                started = true;
                let quote_line = line;
                loop {
                    match chars.next() {
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(ch) => {
                            if ch == '\n' {
                                line += 1;
                            }
                            field.push(ch);
                        }
                        None => {
                            return Err(format!(
                                "line {quote_line}: extraneous or missing \" in quoted-field"
                            ))
                        }
                    }
                }
                match chars.peek() {
                    None | Some(',') | Some('\n') | Some('\r') => {}
                    Some(_) => {
                        return Err(format!(
                            "line {line}: extraneous or missing \" in quoted-field"
                        ))
                    }
                }
            }
            '"' => return Err(format!("line {line}: bare \" in non-quoted-field")),
            ',' => {
                started = true;
                record.push(std::mem::take(&mut field));
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                line += 1;
                if started {
                    record.push(std::mem::take(&mut field));
                    records.push(std::mem::take(&mut record));
                }
                started = false;
            }
            other => {
                started = true;
                field.push(other);
            }
        }
    }
    if started {
        record.push(field);
        records.push(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(tokens: &StaticTokens, token: &str) -> Option<UserInfo> {
        tokens
            .authenticate_token(token)
            .expect("static tokens never error")
    }

    fn user(name: &str, uid: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            name: name.into(),
            uid: uid.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            extra: Default::default(),
        }
    }

    // Ported from upstream tokenfile_test.go TestTokenFile.
    #[test]
    fn upstream_token_file_table() {
        let tokens = StaticTokens::parse(
            "\ntoken1,user1,uid1\ntoken2,user2,uid2\ntoken3,user3,uid3,\"group1,group2\"\n\
             token4,user4,uid4,\"group2\"\ntoken5,user5,uid5,group5\ntoken6,user6,uid6,group5,otherdata\n\
             token7,user7,uid7,\"group1,group2\",otherdata\n",
        )
        .expect("parse");
        let cases: &[(&str, Option<UserInfo>)] = &[
            ("token1", Some(user("user1", "uid1", &[]))),
            ("token2", Some(user("user2", "uid2", &[]))),
            ("token3", Some(user("user3", "uid3", &["group1", "group2"]))),
            ("token4", Some(user("user4", "uid4", &["group2"]))),
            ("token5", Some(user("user5", "uid5", &["group5"]))),
            ("token6", Some(user("user6", "uid6", &["group5"]))),
            ("token7", Some(user("user7", "uid7", &["group1", "group2"]))),
            ("token8", None),
        ];
        for (token, want) in cases {
            assert_eq!(&lookup(&tokens, token), want, "token {token}");
        }
        assert_eq!(tokens.len(), 7);
    }

    // Upstream TestBadTokenFile / TestInsufficientColumnsTokenFile.
    #[test]
    fn too_few_columns_is_an_error() {
        assert!(StaticTokens::parse(
            "token1,user1,uid1\ntoken2,user2,uid2\ntoken3,user3\ntoken4\n"
        )
        .is_err());
        assert!(StaticTokens::parse("token4\n").is_err());
    }

    // Upstream TestEmptyTokenTokenFile.
    #[test]
    fn empty_token_is_skipped() {
        let tokens = StaticTokens::parse(",user5,uid5\n").expect("parse");
        assert!(tokens.is_empty());
    }

    #[test]
    fn csv_quoting_rules() {
        assert_eq!(
            parse_csv("a,\"b \"\"q\"\"\",c\r\n\r\nd,e,f").expect("csv"),
            vec![vec!["a", "b \"q\"", "c"], vec!["d", "e", "f"]]
        );
        assert_eq!(
            parse_csv("a,\"x\ny\",c\n").expect("csv"),
            vec![vec!["a", "x\ny", "c"]]
        );
        assert!(parse_csv("a,b\"c,d\n").is_err());
        assert!(parse_csv("a,\"unterminated\n").is_err());
        assert!(parse_csv("a,\"x\"y,c\n").is_err());
        let last_dup = StaticTokens::parse("t,u1,1\nt,u2,2\n").expect("parse");
        assert_eq!(
            lookup(&last_dup, "t").map(|u| u.name),
            Some("u2".to_string())
        );
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = StaticTokens::from_file(&dir.path().join("tokens.csv")).expect_err("missing");
        assert!(matches!(err, PkiError::Io { .. }));
    }
}
