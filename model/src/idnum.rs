//! PRC resident identity numbers (GB 11643-1999): 18 characters, 17 digits and a check character.

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: [u8; 11] = *b"10X98765432";

/// Validate an 18-character resident ID. The error is a reason that never contains the number.
pub fn validate(id: &str) -> Result<(), &'static str> {
    let b = id.as_bytes();
    if b.len() != 18 {
        return Err("must be 18 characters");
    }
    if !b[..17].iter().all(u8::is_ascii_digit) {
        return Err("first 17 characters must be digits");
    }
    let last = b[17].to_ascii_uppercase();
    if !(last.is_ascii_digit() || last == b'X') {
        return Err("last character must be a digit or X");
    }
    let num = |r: std::ops::Range<usize>| id[r].parse::<u32>().unwrap_or(0);
    let (y, m, d) = (num(6..10), num(10..12), num(12..14));
    if chrono::NaiveDate::from_ymd_opt(y as i32, m, d).is_none() || !(1900..=2100).contains(&y) {
        return Err("birth date part is not a valid date");
    }
    let sum: u32 = b[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(c, w)| u32::from(c - b'0') * w)
        .sum();
    if CHECK[(sum % 11) as usize] != last {
        return Err("check digit does not match");
    }
    Ok(())
}

/// Mask all but the first 6 and last 4 characters: `370102********1234`.
pub fn mask(id: &str) -> String {
    crate::mask::id_number(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Build a valid number from 17 digits by computing the check character.
    fn with_check(first17: &str) -> String {
        let sum: u32 = first17
            .bytes()
            .zip(WEIGHTS)
            .map(|(c, w)| u32::from(c - b'0') * w)
            .sum();
        format!("{first17}{}", CHECK[(sum % 11) as usize] as char)
    }

    #[test]
    fn accepts_valid_and_x_check() {
        assert_eq!(validate("11010519491231002X"), Ok(()));
        let id = with_check("37010219800101123");
        assert_eq!(validate(&id), Ok(()));
        assert_eq!(validate(&id.to_lowercase()), Ok(()));
    }

    #[test]
    fn rejects_bad_numbers() {
        let id = with_check("37010219800101123");
        let mut wrong = id.clone();
        let last = if wrong.ends_with('0') { '1' } else { '0' };
        wrong.pop();
        wrong.push(last);
        assert_eq!(validate(&wrong), Err("check digit does not match"));
        assert_eq!(validate("3701021980010112"), Err("must be 18 characters"));
        assert_eq!(
            validate("37010219800A011234"),
            Err("first 17 characters must be digits")
        );
        assert_eq!(
            validate(&with_check("37010219801301123")),
            Err("birth date part is not a valid date")
        );
        assert_eq!(
            validate("37010219800101123Y"),
            Err("last character must be a digit or X")
        );
    }

    #[test]
    fn masks_middle() {
        assert_eq!(mask("370102198001011234"), "370102********1234");
        assert_eq!(mask("123"), "***");
    }
}
