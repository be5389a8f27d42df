//! `ip`: a keyed address of the same family (IPv4 stays IPv4, IPv6 stays IPv6), through a
//! bijection of the address space that changes every octet (IPv6: every group) after the kept
//! prefix (unique-preserving). inet/cidr keep their netmask; cidr host bits stay zero; text
//! columns hold plain addresses.

use super::util::*;
use crate::sanitize::spec::*;
use crate::sanitize::value;

pub struct Ip;

static SPEC: RuleSpec = RuleSpec {
    name: "ip",
    summary: "A keyed IP address of the same family (v4/v6), netmask kept; unique-preserving.",
    params: &[ParamSpec {
        name: "keep_prefix",
        kind: ParamKind::Integer,
        required: false,
        doc: "leading bits of the original kept (e.g. 16 keeps 10.1.x.x); default 0",
    }],
    accepts: &[TypeClass::Inet, TypeClass::Text],
    may_produce_null: false,
    unique_preserving: true,
    max_len: MaxLen::Chars(39),
    example: r#"last_login_ip = { rule = "ip" }"#,
};

struct IpValue {
    keep_prefix: u32,
    text: bool,
    unique: bool,
    domain: String,
}

impl IpValue {
    /// Moves every component (IPv4 octet, IPv6 group) of `addr[from..to]`, in bytes, to
    /// another value: one pass, last component first, each shifted by a non-zero keyed amount
    /// drawn from the hash of all the others as they are at that point. Undoing the shifts in
    /// the opposite order recovers the input, so distinct addresses stay distinct, and no
    /// component keeps its production value (so neither does the address's text).
    fn move_components(&self, ctx: &Ctx<'_>, addr: &mut [u8], from: usize, to: usize) {
        let size = if addr.len() == 4 { 1 } else { 2 };
        let modulus: u64 = 1 << (8 * size);
        let mut buf = Vec::with_capacity(addr.len() + 3);
        for at in (from..to).step_by(size).rev() {
            buf.clear();
            buf.extend_from_slice(&[addr.len() as u8, from as u8, to as u8, at as u8]);
            buf.extend(
                addr.iter()
                    .enumerate()
                    .map(|(i, b)| if i >= at && i < at + size { 0 } else { *b }),
            );
            let h = ctx.key.hash("ip", &self.domain, &buf);
            let mut word = [0u8; 8];
            word.copy_from_slice(&h[..8]);
            let shift = 1 + u64::from_le_bytes(word) % (modulus - 1);
            let old = addr[at..at + size]
                .iter()
                .fold(0u64, |a, b| (a << 8) | u64::from(*b));
            let new = (old + shift) % modulus;
            for (i, b) in addr[at..at + size].iter_mut().enumerate() {
                *b = (new >> (8 * (size - 1 - i))) as u8;
            }
        }
    }

    /// Replaces the bits of `addr` after `keep` leading bits, before `end` bits.
    fn permute(&self, ctx: &Ctx<'_>, addr: &mut [u8], end: u32) {
        let total = (addr.len() * 8) as u32;
        let keep = self.keep_prefix.min(end);
        let width = end - keep;
        if width == 0 {
            return;
        }
        let component = if addr.len() == 4 { 8 } else { 16 };
        if keep % component == 0 && end % component == 0 {
            let (from, to) = ((keep / 8) as usize, (end / 8) as usize);
            self.move_components(ctx, addr, from, to);
            return;
        }
        // A boundary inside a component: a keyed derangement of the bits between.
        let mut x = addr.iter().fold(0u128, |a, b| (a << 8) | u128::from(*b));
        let shift = total - end;
        let mask = if width == 128 {
            u128::MAX
        } else {
            ((1u128 << width) - 1) << shift
        };
        let middle = (x & mask) >> shift;
        let tweak = [addr.len() as u8, keep as u8, end as u8];
        let p = Permutation::new(ctx.key, "ip", &self.domain, &tweak);
        let n = if width == 128 {
            u128::MAX
        } else {
            1u128 << width
        };
        // A derangement, so no address keeps its production value; the all-ones address,
        // outside the 2^128 - 1 values a u128 range covers, is the one that stays.
        let y = if width == 128 && middle == u128::MAX {
            middle
        } else {
            p.derange(n, middle)
        };
        x = (x & !mask) | (y << shift);
        for (i, b) in addr.iter_mut().enumerate() {
            *b = (x >> (8 * (addr_len(total) - 1 - i))) as u8;
        }
    }
}

fn addr_len(total_bits: u32) -> usize {
    (total_bits / 8) as usize
}

impl ColumnSanitizer for IpValue {
    fn sanitize(
        &self,
        input: Option<&[u8]>,
        ctx: &Ctx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Outcome, SanitizeError> {
        let Some(input) = input else {
            return Ok(Outcome::Null);
        };
        if self.text {
            let t = value::utf8(input)?.trim();
            let ip = match t.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V4(v)) => {
                    let mut a = v.octets();
                    self.permute(ctx, &mut a, 32);
                    std::net::IpAddr::from(a)
                }
                Ok(std::net::IpAddr::V6(v)) => {
                    let mut a = v.octets();
                    self.permute(ctx, &mut a, 128);
                    std::net::IpAddr::from(a)
                }
                // Not an address: a keyed one all the same, IPv6 on a unique column so that
                // distinct values stay distinct (32 bits collide among 10^5 values).
                Err(_) => {
                    let h = ctx.key.hash("ip", &self.domain, input);
                    if self.unique {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(&h[..16]);
                        std::net::IpAddr::from(a)
                    } else {
                        std::net::IpAddr::from([h[0], h[1], h[2], h[3]])
                    }
                }
            };
            out.extend_from_slice(ip.to_string().as_bytes());
        } else {
            let mut v = value::read_inet(input)?;
            let total = (v.addr.len() * 8) as u32;
            let end = if v.cidr { u32::from(v.bits) } else { total };
            self.permute(ctx, &mut v.addr, end);
            value::write_inet(&v, out);
        }
        Ok(Outcome::Value)
    }
}

impl Rule for Ip {
    fn spec(&self) -> &'static RuleSpec {
        &SPEC
    }

    fn build(&self, args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
        let keep = p_int(args.params, "keep_prefix").unwrap_or(0);
        if !(0..=128).contains(&keep) {
            return Err(format!(
                "parameter `keep_prefix` must be between 0 and 128 bits, got {keep}"
            ));
        }
        Ok(Box::new(IpValue {
            keep_prefix: keep as u32,
            text: args.column.class == TypeClass::Text,
            unique: args.column.unique,
            domain: args.domain.to_string(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::tests::*;
    use super::*;
    use crate::sanitize::testing::column;

    #[test]
    fn same_family_and_mask() {
        let col = column(TypeClass::Inet, oids::INET);
        let s = must(build(&Ip, "", &col));
        let v4 = [2u8, 24, 0, 4, 192, 168, 1, 20];
        common(s.as_ref(), &v4);
        let out = value::read_inet(&value_of(s.as_ref(), &v4)).expect("inet");
        assert_eq!((out.addr.len(), out.bits, out.cidr), (4, 24, false));
        let mut v6 = vec![3u8, 128, 0, 16];
        v6.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        let out = value::read_inet(&value_of(s.as_ref(), &v6)).expect("inet6");
        assert_eq!(out.addr.len(), 16);
        let col = column(TypeClass::Inet, oids::CIDR);
        let s = must(build(&Ip, "", &col));
        let c = [2u8, 16, 1, 4, 10, 1, 0, 0];
        let out = value::read_inet(&value_of(s.as_ref(), &c)).expect("cidr");
        assert_eq!(
            (&out.addr[2..], out.bits, out.cidr),
            (&[0u8, 0][..], 16, true)
        );
        assert!(build(&Ip, "keep_prefix = 200", &col).is_err());
    }

    #[test]
    fn text_and_prefix() {
        let col = column(TypeClass::Text, oids::TEXT);
        let s = must(build(&Ip, "keep_prefix = 16", &col));
        let out = text_of(s.as_ref(), "10.1.2.3");
        assert!(out.starts_with("10.1."), "{out}");
        let out = text_of(s.as_ref(), "2001:db8::1");
        assert!(out.parse::<std::net::Ipv6Addr>().is_ok(), "{out}");
        let mut seen = std::collections::HashSet::new();
        for i in 0..5000u32 {
            let a = std::net::Ipv4Addr::from(0x0a01_0000 + i).to_string();
            assert!(seen.insert(text_of(s.as_ref(), &a)));
        }
        assert!(text_of(s.as_ref(), "unknown")
            .parse::<std::net::Ipv4Addr>()
            .is_ok());
    }
}
