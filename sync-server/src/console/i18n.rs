//! The console's words: every string a page shows comes from one catalogue per language
//! (`sync-server/console/i18n/*.ftl`, a subset of Fluent: `key = text` lines, `{ $name }`
//! placeholders, `#` comments), compiled into the binary. Templates name keys, never text.

use std::collections::HashMap;
use std::sync::OnceLock;

/// A language of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    ZhCn,
    En,
}

impl Lang {
    pub const ALL: &'static [Lang] = &[Lang::ZhCn, Lang::En];

    /// The BCP 47 tag (`<html lang>`, the language cookie, `/console/lang/{tag}`).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::ZhCn => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn from_tag(tag: &str) -> Option<Lang> {
        Lang::ALL.iter().copied().find(|l| l.tag() == tag)
    }

    /// The first language of an `Accept-Language` header the console speaks (by weight;
    /// `zh*` → Chinese, `en*` → English); `None` when it names neither.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',').take(32) {
            let mut it = part.split(';');
            let tag = it.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = it
                .find_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|v| v.parse::<f32>().ok())
                })
                .unwrap_or(1.0);
            let lang = if tag.starts_with("zh") {
                Lang::ZhCn
            } else if tag.starts_with("en") {
                Lang::En
            } else {
                continue;
            };
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l)
    }

    fn source(self) -> &'static str {
        match self {
            Lang::ZhCn => include_str!("../../console/i18n/zh-CN.ftl"),
            Lang::En => include_str!("../../console/i18n/en.ftl"),
        }
    }

    fn catalogue(self) -> &'static HashMap<&'static str, &'static str> {
        static ZH: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
        static EN: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
        let cell = match self {
            Lang::ZhCn => &ZH,
            Lang::En => &EN,
        };
        cell.get_or_init(|| parse(self.source()))
    }

    /// The text of `key`; the key itself when the catalogue lacks it (a test keeps every key
    /// used in the source in both catalogues).
    pub fn t(self, key: &'static str) -> &'static str {
        self.catalogue().get(key).copied().unwrap_or(key)
    }

    /// The text of a key made at run time, if the catalogue has it.
    pub fn lookup(self, key: &str) -> Option<&'static str> {
        self.catalogue().get(key).copied()
    }

    /// The text of a key made at run time (an enum's value: `status-submitted`); the value
    /// itself when unknown.
    pub fn t_dyn<'a>(self, prefix: &str, value: &'a str) -> std::borrow::Cow<'a, str> {
        let key = format!("{prefix}-{value}");
        match self.catalogue().get(key.as_str()) {
            Some(t) => std::borrow::Cow::Borrowed(t),
            None => std::borrow::Cow::Owned(value.to_owned()),
        }
    }

    /// The text of `key` with its `{ $name }` placeholders filled.
    pub fn tf(self, key: &'static str, args: &[(&str, &dyn std::fmt::Display)]) -> String {
        let text = self.t(key);
        let mut out = String::with_capacity(text.len() + 16);
        let mut rest = text;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let after = &rest[start + 1..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                return out;
            };
            let name = after[..end].trim().trim_start_matches('$');
            match args.iter().find(|(n, _)| *n == name) {
                Some((_, v)) => out.push_str(&v.to_string()),
                None => out.push_str(&rest[start..start + end + 2]),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }
}

fn parse(src: &'static str) -> HashMap<&'static str, &'static str> {
    src.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}

/// Every key of a catalogue (tests).
pub fn keys(lang: Lang) -> Vec<&'static str> {
    let mut k: Vec<_> = lang.catalogue().keys().copied().collect();
    k.sort_unstable();
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_catalogues_have_the_same_keys_and_placeholders() {
        let zh = keys(Lang::ZhCn);
        let en = keys(Lang::En);
        assert!(zh.len() > 100, "the catalogue is read ({} keys)", zh.len());
        assert_eq!(zh, en, "zh-CN and en must define the same keys");
        for k in zh {
            let ph = |l: Lang| {
                let t = l.catalogue()[k];
                let mut v: Vec<&str> = t
                    .split('{')
                    .skip(1)
                    .filter_map(|p| p.split_once('}').map(|(n, _)| n.trim()))
                    .collect();
                v.sort_unstable();
                v
            };
            assert_eq!(ph(Lang::ZhCn), ph(Lang::En), "placeholders of {k}");
        }
    }

    #[test]
    fn every_key_the_source_names_is_in_the_catalogue() {
        // Keys appear in the console's source as t("…") / tf("…", …) calls.
        let sources = [
            include_str!("mod.rs"),
            include_str!("session.rs"),
            include_str!("pages.rs"),
            include_str!("lists.rs"),
            include_str!("reports.rs"),
            include_str!("tasks.rs"),
            include_str!("people.rs"),
            include_str!("admin.rs"),
            include_str!("form.rs"),
        ];
        let cat = Lang::ZhCn.catalogue();
        let mut missing = Vec::new();
        let mut seen = 0;
        for src in sources {
            for pat in [".t(\"", ".tf(\"", "\"why-"] {
                for part in src.split(pat).skip(1) {
                    if let Some((key, _)) = part.split_once('"') {
                        seen += 1;
                        let key = if pat.contains("why-") {
                            format!("why-{key}")
                        } else {
                            key.to_owned()
                        };
                        if !cat.contains_key(key.as_str()) {
                            missing.push(key);
                        }
                    }
                }
            }
        }
        assert!(seen > 50, "keys were found in the source ({seen})");
        assert!(
            missing.is_empty(),
            "keys missing from the catalogue: {missing:?}"
        );
    }

    #[test]
    fn every_enum_value_has_words() {
        use gridwork_model::*;
        let mut need: Vec<String> = Vec::new();
        need.extend(ReportStatus::ALL.iter().map(|v| format!("status-{v}")));
        need.extend(TaskStatus::ALL.iter().map(|v| format!("status-{v}")));
        need.extend(ReportCategory::ALL.iter().map(|v| format!("category-{v}")));
        need.extend(VisitType::ALL.iter().map(|v| format!("visit_type-{v}")));
        need.extend(Priority::ALL.iter().map(|v| format!("priority-{v}")));
        need.extend(Role::ALL.iter().map(|v| format!("role-{v}")));
        need.extend(MemberTag::ALL.iter().map(|v| format!("member_tag-{v}")));
        need.extend(NeedTag::ALL.iter().map(|v| format!("need-{v}")));
        need.extend(RecordKind::ALL.iter().map(|v| format!("kind-{v}")));
        for l in Lang::ALL {
            let missing: Vec<&String> = need
                .iter()
                .filter(|k| !l.catalogue().contains_key(k.as_str()))
                .collect();
            assert!(missing.is_empty(), "{}: {missing:?}", l.tag());
        }
    }

    #[test]
    fn accept_language_picks_by_weight() {
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9"), Some(Lang::En));
        assert_eq!(
            Lang::from_accept_language("en;q=0.5, zh-CN;q=0.8"),
            Some(Lang::ZhCn)
        );
        assert_eq!(Lang::from_accept_language("fr, de"), None);
        assert_eq!(Lang::from_accept_language("zh-TW"), Some(Lang::ZhCn));
        assert_eq!(Lang::from_accept_language(""), None);
        assert_eq!(Lang::from_accept_language("en;q=0"), None);
    }

    #[test]
    fn placeholders_fill() {
        assert_eq!(Lang::En.tf("list-more", &[("n", &50)]), "Show the next 50");
    }
}
