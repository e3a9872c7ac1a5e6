//! Just enough X.509 to name a peer: the subject's common name and the DNS and URI entries of
//! its subjectAltName, for `grpc.allowed_client`.
//!
//! The certificate has already been verified by rustls/webpki when this runs; this reader only
//! walks the DER to find names. It is bounded and never panics: any structure it does not expect
//! is an error, and the caller then refuses the peer.

use std::fmt;

/// The names a certificate claims.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identities {
    /// The subject's CN, if any.
    pub common_name: Option<String>,
    /// subjectAltName DNS names.
    pub dns: Vec<String>,
    /// subjectAltName URIs (SPIFFE IDs and the like).
    pub uris: Vec<String>,
}

impl Identities {
    /// Whether any name equals an allowed one (DNS names case-insensitively). An empty list
    /// allows every certificate the CA signed.
    pub fn allowed_by(&self, allow_list: &[String]) -> bool {
        if allow_list.is_empty() {
            return true;
        }
        allow_list.iter().any(|allowed| {
            self.dns.iter().any(|d| d.eq_ignore_ascii_case(allowed))
                || self.uris.iter().any(|u| u == allowed)
                || self.common_name.as_deref() == Some(allowed.as_str())
        })
    }
}

impl fmt::Display for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<String> = self.dns.iter().map(|d| format!("DNS:{d}")).collect();
        names.extend(self.uris.iter().map(|u| format!("URI:{u}")));
        if let Some(cn) = &self.common_name {
            names.push(format!("CN={cn}"));
        }
        if names.is_empty() {
            f.write_str("(no names)")
        } else {
            f.write_str(&names.join(", "))
        }
    }
}

/// A certificate this reader cannot walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadCertificate(pub &'static str);

impl fmt::Display for BadCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unreadable certificate: {}", self.0)
    }
}

impl std::error::Error for BadCertificate {}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const OCTET_STRING: u8 = 0x04;
const BOOLEAN: u8 = 0x01;
/// [3] EXPLICIT, constructed: the extensions of a v3 certificate.
const EXTENSIONS_TAG: u8 = 0xa3;
/// GeneralName [2] dNSName and [6] uniformResourceIdentifier (IA5String, implicit).
const SAN_DNS: u8 = 0x82;
const SAN_URI: u8 = 0x86;
/// 2.5.4.3 commonName.
const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
/// 2.5.29.17 subjectAltName.
const OID_SAN: &[u8] = &[0x55, 0x1d, 0x11];
/// 2.5.29.19 basicConstraints.
const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];

/// Reads the names of a DER certificate.
pub fn identities(der: &[u8]) -> Result<Identities, BadCertificate> {
    let (subject, extensions) = subject_and_extensions(der)?;
    let mut ids = Identities {
        common_name: common_name(subject)?,
        ..Identities::default()
    };
    if let Some(exts) = extensions {
        subject_alt_names(exts, &mut ids)?;
    }
    Ok(ids)
}

/// Whether the certificate says it is a CA (basicConstraints cA TRUE). A certificate without
/// basicConstraints is taken as not a CA: that is what a leaf given by mistake looks like.
pub fn is_ca(der: &[u8]) -> Result<bool, BadCertificate> {
    let (_, extensions) = subject_and_extensions(der)?;
    let Some(mut exts) = extensions else {
        return Ok(false);
    };
    while !exts.is_empty() {
        let mut ext = exts.expect(SEQUENCE, "extension")?;
        let oid = ext.expect(OID, "extension id")?;
        if ext.peek() == Some(BOOLEAN) {
            ext.any()?;
        }
        let value = ext.expect(OCTET_STRING, "extension value")?;
        if oid.0 == OID_BASIC_CONSTRAINTS {
            let mut constraints = value.expect_whole(SEQUENCE, "basicConstraints")?;
            return Ok(match constraints.peek() {
                Some(BOOLEAN) => constraints.any()?.1 != [0],
                _ => false,
            });
        }
    }
    Ok(false)
}

/// The subject name and, for a v3 certificate, the list of extensions.
fn subject_and_extensions(der: &[u8]) -> Result<(Reader<'_>, Option<Reader<'_>>), BadCertificate> {
    let mut cert = Reader(der).expect(SEQUENCE, "certificate")?;
    let mut tbs = cert.expect(SEQUENCE, "tbsCertificate")?;
    if tbs.peek() == Some(0xa0) {
        tbs.any()?; // version
    }
    tbs.any()?; // serialNumber
    tbs.any()?; // signature algorithm
    tbs.any()?; // issuer
    tbs.any()?; // validity
    let subject = tbs.expect(SEQUENCE, "subject")?;
    tbs.any()?; // subjectPublicKeyInfo
    let mut extensions = None;
    while !tbs.is_empty() {
        let (tag, body) = tbs.any()?;
        if tag == EXTENSIONS_TAG {
            extensions = Some(Reader(body).expect_whole(SEQUENCE, "extensions")?);
        }
    }
    Ok((subject, extensions))
}

fn common_name(mut name: Reader) -> Result<Option<String>, BadCertificate> {
    let mut cn = None;
    while !name.is_empty() {
        let mut rdn = name.expect(SET, "relative distinguished name")?;
        while !rdn.is_empty() {
            let mut atv = rdn.expect(SEQUENCE, "attribute")?;
            let oid = atv.expect(OID, "attribute type")?;
            let (_, value) = atv.any()?;
            if oid.0 == OID_CN {
                cn = Some(text(value)?);
            }
        }
    }
    Ok(cn)
}

fn subject_alt_names(mut exts: Reader, ids: &mut Identities) -> Result<(), BadCertificate> {
    while !exts.is_empty() {
        let mut ext = exts.expect(SEQUENCE, "extension")?;
        let oid = ext.expect(OID, "extension id")?;
        if ext.peek() == Some(BOOLEAN) {
            ext.any()?; // critical
        }
        let value = ext.expect(OCTET_STRING, "extension value")?;
        if oid.0 != OID_SAN {
            continue;
        }
        let mut names = value.expect_whole(SEQUENCE, "subjectAltName")?;
        while !names.is_empty() {
            let (tag, body) = names.any()?;
            match tag {
                SAN_DNS => ids.dns.push(text(body)?),
                SAN_URI => ids.uris.push(text(body)?),
                _ => {} // IP addresses, e-mail, directory names: not used for identity
            }
        }
    }
    Ok(())
}

fn text(bytes: &[u8]) -> Result<String, BadCertificate> {
    std::str::from_utf8(bytes)
        .map(str::to_string)
        .map_err(|_| BadCertificate("a name is not UTF-8"))
}

/// A cursor over DER bytes.
#[derive(Clone, Copy)]
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn peek(&self) -> Option<u8> {
        self.0.first().copied()
    }

    /// Reads one tag-length-value; returns the tag and the value.
    fn any(&mut self) -> Result<(u8, &'a [u8]), BadCertificate> {
        let truncated = BadCertificate("truncated");
        let (&tag, rest) = self.0.split_first().ok_or(truncated)?;
        if tag & 0x1f == 0x1f {
            return Err(BadCertificate("multi-byte tag"));
        }
        let (&first, mut rest) = rest.split_first().ok_or(truncated)?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return Err(BadCertificate("bad length"));
            }
            let mut len = 0usize;
            for &b in &rest[..count] {
                len = (len << 8) | usize::from(b);
            }
            rest = &rest[count..];
            len
        };
        if rest.len() < len {
            return Err(truncated);
        }
        let (value, rest) = rest.split_at(len);
        self.0 = rest;
        Ok((tag, value))
    }

    /// Reads one element that must have `tag`; returns a reader over its value.
    fn expect(&mut self, tag: u8, what: &'static str) -> Result<Reader<'a>, BadCertificate> {
        match self.any()? {
            (t, value) if t == tag => Ok(Reader(value)),
            _ => Err(BadCertificate(what)),
        }
    }

    /// Like `expect`, for a reader that must hold exactly that one element.
    fn expect_whole(mut self, tag: u8, what: &'static str) -> Result<Reader<'a>, BadCertificate> {
        let inner = self.expect(tag, what)?;
        if self.is_empty() {
            Ok(inner)
        } else {
            Err(BadCertificate(what))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;

    fn certs() -> std::path::PathBuf {
        crate::grpc::transport::tls::test_certs()
    }

    fn der(name: &str) -> Vec<u8> {
        CertificateDer::from_pem_file(certs().join(name))
            .unwrap()
            .to_vec()
    }

    #[test]
    fn reads_common_name_and_subject_alt_names() {
        let ids = identities(&der("client.pem")).unwrap();
        assert_eq!(ids.common_name.as_deref(), Some("portal-client"));
        assert_eq!(ids.dns, ["portal.example"]);
        assert_eq!(ids.uris, ["spiffe://portal/ctl"]);
        assert_eq!(
            ids.to_string(),
            "DNS:portal.example, URI:spiffe://portal/ctl, CN=portal-client"
        );
        let server = identities(&der("server.pem")).unwrap();
        assert_eq!(server.dns, ["localhost"]);
        assert!(server.uris.is_empty(), "IP entries are not identities");
        let ca = identities(&der("ca.pem")).unwrap();
        assert_eq!(ca.common_name.as_deref(), Some("ocserv-agent test CA"));
    }

    #[test]
    fn tells_a_ca_from_a_leaf() {
        assert_eq!(is_ca(&der("ca.pem")), Ok(true));
        assert_eq!(is_ca(&der("other-ca.pem")), Ok(true));
        assert_eq!(is_ca(&der("server.pem")), Ok(false));
        assert_eq!(is_ca(&der("client.pem")), Ok(false));
    }

    #[test]
    fn allow_list_matching() {
        let ids = identities(&der("client.pem")).unwrap();
        let list = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(ids.allowed_by(&[]));
        assert!(ids.allowed_by(&list(&["PORTAL.example"])));
        assert!(ids.allowed_by(&list(&["spiffe://portal/ctl"])));
        assert!(ids.allowed_by(&list(&["other", "portal-client"])));
        assert!(!ids.allowed_by(&list(&["portal"])));
        assert!(!ids.allowed_by(&list(&["spiffe://portal/CTL"])));
    }

    #[test]
    fn damaged_certificates_are_errors_never_panics() {
        let good = der("client.pem");
        for cut in 0..good.len() {
            let _ = identities(&good[..cut]);
            let _ = is_ca(&good[..cut]);
        }
        let mut state = 0x9e37_79b9u32;
        for round in 0..20_000 {
            let mut bytes = good.clone();
            for _ in 0..(1 + round % 4) {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let i = state as usize % bytes.len();
                bytes[i] = (state >> 8) as u8;
            }
            let _ = identities(&bytes);
            let _ = is_ca(&bytes);
        }
        assert!(identities(b"").is_err());
        assert!(identities(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
    }
}
