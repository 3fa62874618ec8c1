//! Key material through josekit (OpenSSL): generating key pairs, and turning stored rows
//! back into signers and verifiers.

use josekit::jwk::{Jwk, KeyPair};
use josekit::jws::{JwsSigner, JwsVerifier, ES256, RS256};

use super::{Alg, KeyError};

/// A freshly generated key pair: PKCS#8 PEM private key and the public JWK (with kid, alg
/// and use set).
pub struct Generated {
    pub private_pem: Vec<u8>,
    pub public_jwk: Jwk,
}

pub fn generate(alg: Alg, kid: &str, rsa_bits: usize) -> Result<Generated, KeyError> {
    let (private_pem, mut public_jwk) = match alg {
        Alg::Rs256 => {
            let bits =
                u32::try_from(rsa_bits).map_err(|_| KeyError::Material("bad RSA size".into()))?;
            let pair = RS256.generate_key_pair(bits)?;
            (pair.to_pem_private_key(), pair.to_jwk_public_key())
        }
        Alg::Es256 => {
            let pair = ES256.generate_key_pair()?;
            (pair.to_pem_private_key(), pair.to_jwk_public_key())
        }
    };
    public_jwk.set_key_id(kid);
    public_jwk.set_algorithm(alg.as_str());
    public_jwk.set_key_use("sig");
    Ok(Generated {
        private_pem,
        public_jwk,
    })
}

pub fn signer(alg: Alg, private_pem: &[u8], kid: &str) -> Result<Box<dyn JwsSigner>, KeyError> {
    Ok(match alg {
        Alg::Rs256 => {
            let mut s = RS256.signer_from_pem(private_pem)?;
            s.set_key_id(kid);
            Box::new(s)
        }
        Alg::Es256 => {
            let mut s = ES256.signer_from_pem(private_pem)?;
            s.set_key_id(kid);
            Box::new(s)
        }
    })
}

pub fn verifier(alg: Alg, public_jwk: &Jwk) -> Result<Box<dyn JwsVerifier>, KeyError> {
    Ok(match alg {
        Alg::Rs256 => Box::new(RS256.verifier_from_jwk(public_jwk)?),
        Alg::Es256 => Box::new(ES256.verifier_from_jwk(public_jwk)?),
    })
}
