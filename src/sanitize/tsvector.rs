//! The binary form of `tsvector` (as `tsvectorsend` writes it): an int32 lexeme count, then per
//! lexeme its text NUL-terminated, an int16 position count and that many int16 positions
//! (weight in the top two bits). PostgreSQL keeps lexemes sorted (shorter first on a common
//! prefix, i.e. byte order) and unique, so [`encode`] re-sorts and merges the lexemes a rule
//! rewrote: two lexemes that became equal are one lexeme with both positions.

/// At most this many positions per lexeme (`MAXNUMPOS`).
const MAX_POSITIONS: usize = 256;
/// The position without its weight bits (`WEP_GETPOS`).
const POSITION_MASK: u16 = 0x3fff;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lexeme {
    pub text: Vec<u8>,
    pub positions: Vec<u16>,
}

fn take<'a>(bytes: &'a [u8], at: &mut usize, n: usize) -> Result<&'a [u8], String> {
    let end = at
        .checked_add(n)
        .filter(|e| *e <= bytes.len())
        .ok_or_else(|| "truncated tsvector".to_string())?;
    let out = &bytes[*at..end];
    *at = end;
    Ok(out)
}

fn u16_at(bytes: &[u8], at: &mut usize) -> Result<u16, String> {
    let b = take(bytes, at, 2)?;
    Ok(u16::from_be_bytes([b[0], b[1]]))
}

pub fn decode(bytes: &[u8]) -> Result<Vec<Lexeme>, String> {
    let mut at = 0;
    let count = take(bytes, &mut at, 4)?;
    let count = i32::from_be_bytes([count[0], count[1], count[2], count[3]]);
    let count = usize::try_from(count).map_err(|_| "negative tsvector size".to_string())?;
    let mut out = Vec::with_capacity(count.min(bytes.len()));
    for _ in 0..count {
        let len = bytes[at..]
            .iter()
            .position(|b| *b == 0)
            .ok_or_else(|| "tsvector lexeme without its terminator".to_string())?;
        let text = take(bytes, &mut at, len)?.to_vec();
        at += 1;
        let npos = usize::from(u16_at(bytes, &mut at)?);
        let positions = (0..npos)
            .map(|_| u16_at(bytes, &mut at))
            .collect::<Result<_, _>>()?;
        out.push(Lexeme { text, positions });
    }
    if at != bytes.len() {
        return Err("trailing bytes after a tsvector".to_string());
    }
    Ok(out)
}

/// Appends the lexemes sorted and merged, as PostgreSQL requires them.
pub fn encode(mut lexemes: Vec<Lexeme>, out: &mut Vec<u8>) {
    lexemes.sort_by(|a, b| a.text.cmp(&b.text));
    let mut merged: Vec<Lexeme> = Vec::with_capacity(lexemes.len());
    for lexeme in lexemes {
        match merged.last_mut() {
            Some(last) if last.text == lexeme.text => last.positions.extend(lexeme.positions),
            _ => merged.push(lexeme),
        }
    }
    out.extend_from_slice(&(merged.len() as i32).to_be_bytes());
    for mut lexeme in merged {
        // Positions ascending and unique (the first weight of a position wins), at most 256.
        lexeme.positions.sort_by_key(|p| p & POSITION_MASK);
        lexeme.positions.dedup_by_key(|p| *p & POSITION_MASK);
        lexeme.positions.truncate(MAX_POSITIONS);
        out.extend_from_slice(&lexeme.text);
        out.push(0);
        out.extend_from_slice(&(lexeme.positions.len() as u16).to_be_bytes());
        for p in lexeme.positions {
            out.extend_from_slice(&p.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lexeme(text: &str, positions: &[u16]) -> Lexeme {
        Lexeme {
            text: text.as_bytes().to_vec(),
            positions: positions.to_vec(),
        }
    }

    #[test]
    fn round_trips_and_merges_lexemes_that_became_equal() {
        let mut bytes = Vec::new();
        encode(vec![lexeme("b", &[3]), lexeme("a", &[1, 2])], &mut bytes);
        assert_eq!(
            decode(&bytes),
            Ok(vec![lexeme("a", &[1, 2]), lexeme("b", &[3])])
        );
        let mut merged = Vec::new();
        encode(
            vec![
                lexeme("zz", &[5]),
                lexeme("ab", &[4, 0x4001]),
                lexeme("zz", &[1]),
            ],
            &mut merged,
        );
        assert_eq!(
            decode(&merged),
            Ok(vec![lexeme("ab", &[0x4001, 4]), lexeme("zz", &[1, 5])])
        );
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode(&[0, 0, 0, 1, b'a']).is_err());
    }
}
