"""Operations on the key ring: rotating to a new key version, retiring an old one (audited)."""
