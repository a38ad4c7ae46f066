//! The `xl.cfg` file syntax, as Xen's `xl` reads it (`xl.cfg(5)`, "Syntax"):
//!
//! ```text
//! # a comment runs to the end of the line
//! name    = "web"            # KEY = VALUE, one setting per line or separated by ';'
//! memory  = 64               # numbers: decimal or 0x hexadecimal
//! extra   = 'console=hvc0'   # strings: "double" (with \ escapes) or 'single' (taken as is)
//! vif     = [ 'bridge=br0',  # lists of strings or numbers, over several lines,
//!             '' ]           # a trailing comma allowed
//! extra  += " quiet"         # KEY += VALUE appends to an earlier string or list
//! ```
//!
//! This module only reads the syntax into [`Setting`]s, each with its line; what the keys
//! mean is [`super::domain`]'s business. Parsing uses `winnow`.

use winnow::ascii::{digit1, hex_digit1};
use winnow::combinator::{alt, cut_err, delimited, opt, preceded, repeat, separated, terminated};
use winnow::error::{ContextError, ErrMode, StrContext, StrContextValue};
use winnow::prelude::*;
use winnow::token::{none_of, one_of, take_till, take_while};

/// One value on the right of `=`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A quoted string, unescaped.
    String(String),
    /// A number.
    Number(u64),
    /// `[ … ]` of strings and numbers.
    List(Vec<Value>),
}

/// `KEY = VALUE` (or `KEY += VALUE`) and the line it started on (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The key as written.
    pub key: String,
    /// The value.
    pub value: Value,
    /// `+=` rather than `=`.
    pub append: bool,
    /// Line of the key.
    pub line: usize,
}

/// A syntax error: where, and what the parser expected there.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct SyntaxError {
    /// 1-based line of the error.
    pub line: usize,
    /// What is wrong, in words.
    pub message: String,
}

type Input<'a> = &'a str;

/// Spaces and tabs (not newlines).
fn blanks(i: &mut Input) -> ModalResult<()> {
    take_while(0.., [' ', '\t', '\r']).void().parse_next(i)
}

/// A `#` comment up to (not including) the newline.
fn comment(i: &mut Input) -> ModalResult<()> {
    ('#', take_till(0.., '\n')).void().parse_next(i)
}

/// Blanks, newlines and comments: what may stand between list items.
fn filler(i: &mut Input) -> ModalResult<()> {
    repeat(0.., alt((one_of([' ', '\t', '\r', '\n']).void(), comment))).parse_next(i)
}

/// Blank lines, comments and stray `;` between settings.
fn skip_between(i: &mut Input) -> ModalResult<()> {
    repeat(
        0..,
        alt((one_of([' ', '\t', '\r', '\n', ';']).void(), comment)),
    )
    .parse_next(i)
}

fn key(i: &mut Input) -> ModalResult<String> {
    (
        one_of(|c: char| c.is_ascii_alphabetic() || c == '_'),
        take_while(0.., |c: char| {
            c.is_ascii_alphanumeric() || c == '_' || c == '.'
        }),
    )
        .take()
        .map(String::from)
        .context(StrContext::Expected(StrContextValue::Description("a key")))
        .parse_next(i)
}

fn escape(i: &mut Input) -> ModalResult<char> {
    preceded(
        '\\',
        alt((
            'n'.value('\n'),
            't'.value('\t'),
            'r'.value('\r'),
            '\\'.value('\\'),
            '"'.value('"'),
            '\''.value('\''),
        )),
    )
    .context(StrContext::Expected(StrContextValue::Description(
        "an escape: \\n \\t \\r \\\\ \\\" or \\'",
    )))
    .parse_next(i)
}

fn double_quoted(i: &mut Input) -> ModalResult<String> {
    delimited(
        '"',
        cut_err(repeat(0.., alt((escape, none_of(['"', '\\', '\n']))))),
        cut_err('"').context(StrContext::Expected(StrContextValue::Description(
            "a closing \" on the same line",
        ))),
    )
    .parse_next(i)
}

fn single_quoted(i: &mut Input) -> ModalResult<String> {
    delimited(
        '\'',
        take_till(0.., ['\'', '\n']).map(String::from),
        cut_err('\'').context(StrContext::Expected(StrContextValue::Description(
            "a closing ' on the same line",
        ))),
    )
    .parse_next(i)
}

fn number(i: &mut Input) -> ModalResult<u64> {
    alt((
        preceded(alt(("0x", "0X")), cut_err(hex_digit1))
            .try_map(|h: &str| u64::from_str_radix(h, 16)),
        digit1.try_map(str::parse::<u64>),
    ))
    .context(StrContext::Expected(StrContextValue::Description(
        "a number that fits in 64 bits",
    )))
    .parse_next(i)
}

fn atom(i: &mut Input) -> ModalResult<Value> {
    alt((
        double_quoted.map(Value::String),
        single_quoted.map(Value::String),
        terminated(
            number,
            cut_err(winnow::combinator::not(one_of(char::is_alphanumeric))),
        )
        .map(Value::Number),
    ))
    .context(StrContext::Expected(StrContextValue::Description(
        "a \"string\", a 'string' or a number",
    )))
    .parse_next(i)
}

fn list(i: &mut Input) -> ModalResult<Value> {
    preceded(
        '[',
        cut_err(terminated(
            delimited(
                filler,
                separated(0.., atom, (filler, ',', filler)),
                (filler, opt(','), filler),
            ),
            ']'.context(StrContext::Expected(StrContextValue::Description(
                "',' or ']' to continue or close the list",
            ))),
        )),
    )
    .map(Value::List)
    .parse_next(i)
}

fn value(i: &mut Input) -> ModalResult<Value> {
    alt((list, atom)).parse_next(i)
}

fn setting(i: &mut Input) -> ModalResult<(String, bool, Value)> {
    let k = key(i)?;
    blanks(i)?;
    let append = cut_err(alt(("+=".value(true), "=".value(false))))
        .context(StrContext::Expected(StrContextValue::Description(
            "'=' after the key",
        )))
        .parse_next(i)?;
    blanks(i)?;
    let v = cut_err(value).parse_next(i)?;
    Ok((k, append, v))
}

/// What may end a setting: a `;`, a newline, or the end of the file (after blanks and an
/// optional comment).
fn end_of_setting(i: &mut Input) -> ModalResult<()> {
    blanks(i)?;
    opt(comment).parse_next(i)?;
    alt((';'.void(), '\n'.void(), winnow::combinator::eof.void()))
        .context(StrContext::Expected(StrContextValue::Description(
            "the end of the line (one setting per line, or ';' between settings)",
        )))
        .parse_next(i)
}

fn line_of(text: &str, rest: &str) -> usize {
    let offset = text.len() - rest.len();
    text[..offset].matches('\n').count() + 1
}

fn describe(e: &ContextError) -> String {
    let expected: Vec<String> = e
        .context()
        .filter_map(|c| match c {
            StrContext::Expected(v) => Some(v.to_string()),
            _ => None,
        })
        .collect();
    if expected.is_empty() {
        "this is not `KEY = VALUE`".to_string()
    } else {
        format!("expected {}", expected.join(" or "))
    }
}

/// Reads a whole configuration file's text into its settings, in order.
pub fn parse(text: &str) -> Result<Vec<Setting>, SyntaxError> {
    let mut rest: Input = text;
    let mut out = Vec::new();
    loop {
        // Blank lines, comments, stray separators.
        let _ = skip_between(&mut rest);
        if rest.is_empty() {
            return Ok(out);
        }
        let line = line_of(text, rest);
        let start = rest;
        let parsed = setting
            .parse_next(&mut rest)
            .and_then(|s| end_of_setting(&mut rest).map(|()| s));
        match parsed {
            Ok((key, append, value)) => out.push(Setting {
                key,
                value,
                append,
                line,
            }),
            Err(ErrMode::Backtrack(e) | ErrMode::Cut(e)) => {
                let at = if rest.len() == start.len() {
                    start
                } else {
                    rest
                };
                return Err(SyntaxError {
                    line: line_of(text, at),
                    message: describe(&e),
                });
            }
            Err(ErrMode::Incomplete(_)) => {
                return Err(SyntaxError {
                    line: line_of(text, rest),
                    message: "the file ends in the middle of a setting".into(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(key: &str, value: Value, line: usize) -> Setting {
        Setting {
            key: key.into(),
            value,
            append: false,
            line,
        }
    }

    fn st(v: &str) -> Value {
        Value::String(v.into())
    }

    #[test]
    fn xen_documentation_pv_example() {
        // The shape of Xen's `xlexample.pvlinux`.
        let text = "# =====\n# Example PV Linux guest configuration\n# =====\n\n\
                    name = \"example.pvlinux\"\n\
                    type = \"pv\"\n\
                    kernel = \"/boot/vmlinuz\"\n\
                    extra = \"root=/dev/xvda1\"\n\
                    memory = 128\n\
                    maxmem = 512\n\
                    vcpus = 2\n\
                    vif = [ '' ]\n\
                    disk = [ '/dev/vg/guest-volume,raw,xvda,rw' ]\n";
        let got = parse(text).unwrap();
        assert_eq!(
            got,
            vec![
                s("name", st("example.pvlinux"), 5),
                s("type", st("pv"), 6),
                s("kernel", st("/boot/vmlinuz"), 7),
                s("extra", st("root=/dev/xvda1"), 8),
                s("memory", Value::Number(128), 9),
                s("maxmem", Value::Number(512), 10),
                s("vcpus", Value::Number(2), 11),
                s("vif", Value::List(vec![st("")]), 12),
                s(
                    "disk",
                    Value::List(vec![st("/dev/vg/guest-volume,raw,xvda,rw")]),
                    13
                ),
            ]
        );
    }

    #[test]
    fn lists_span_lines_with_comments_and_a_trailing_comma() {
        let text = "x = [ 'a', # first\n  \"b\",\n  3,\n]\ny=0x10; z = 'q'";
        let got = parse(text).unwrap();
        assert_eq!(
            got,
            vec![
                s(
                    "x",
                    Value::List(vec![st("a"), st("b"), Value::Number(3)]),
                    1
                ),
                s("y", Value::Number(16), 5),
                s("z", st("q"), 5),
            ]
        );
        assert_eq!(
            parse("e = []").unwrap(),
            vec![s("e", Value::List(vec![]), 1)]
        );
    }

    #[test]
    fn double_quotes_unescape_single_quotes_do_not() {
        let got = parse(
            r#"a = "x\"y\\z\n"
b = 'x\"y'"#,
        )
        .unwrap();
        assert_eq!(got[0].value, st("x\"y\\z\n"));
        assert_eq!(got[1].value, st(r#"x\"y"#));
    }

    #[test]
    fn append_is_recorded() {
        let got = parse("extra = \"a\"\nextra += \" b\"\n").unwrap();
        assert!(!got[0].append);
        assert!(got[1].append);
        assert_eq!(got[1].line, 2);
    }

    #[test]
    fn errors_name_the_line_and_what_was_expected() {
        let e = parse("name = \"ok\"\nmemory 64\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("'='"), "{e}");

        let e = parse("a = 1\n\nb = \"unterminated\nc = 2\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("closing \""), "{e}");

        let e = parse("v = [ 'a' 'b' ]").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("',' or ']'"), "{e}");

        let e = parse("m = 64 k = 2").unwrap_err();
        assert!(e.message.contains("end of the line"), "{e}");

        let e = parse("m = 99999999999999999999999").unwrap_err();
        assert!(e.message.contains("64 bits"), "{e}");

        let e = parse("m = 12abc").unwrap_err();
        assert_eq!(e.line, 1);

        let e = parse("= 3").unwrap_err();
        assert!(e.message.contains("a key"), "{e}");

        let e = parse("x = [ 'a',\n 'b'\n").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
    }

    #[test]
    fn blank_and_comment_only_files_have_no_settings() {
        assert_eq!(parse("").unwrap(), vec![]);
        assert_eq!(parse("\n# nothing\n  \n;;\n").unwrap(), vec![]);
    }
}
