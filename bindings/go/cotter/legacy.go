package cotter

/*
#include <stdlib.h>
#include <stdint.h>
#include <cotter.h>
*/
import "C"

import "time"

// LegacyPublicKey is Cotter's published Ed25519 key (standard base64), the default key of the calls below.
const LegacyPublicKey = C.COTTER_LEGACY_PUBLIC_KEY

// IdentityTokenVerify verifies an Identity Token (the `token` object of GetIdentity): Ed25519 signature,
// receiver == apiKeyID, not expired at now (the zero Time = the system clock). publicKey "" = LegacyPublicKey.
// Errors: ErrLegacySignature, ErrLegacyClaim, ErrProtocol, ErrInvalid.
func IdentityTokenVerify(identityTokenJSON, apiKeyID, publicKey string, now time.Time) error {
	var cs cStrings
	defer cs.free()
	j, err := cs.add(identityTokenJSON, "identityTokenJSON", false)
	if err != nil {
		return err
	}
	k, err := cs.add(apiKeyID, "apiKeyID", false)
	if err != nil {
		return err
	}
	pk, err := cs.add(publicKey, "publicKey", true)
	if err != nil {
		return err
	}
	var unix int64
	if !now.IsZero() {
		unix = now.Unix()
	}
	var cerr *C.cotter_error
	return check(C.cotter_identity_token_verify(j, k, pk, C.int64_t(unix), &cerr), cerr)
}

// EventTokenVerify verifies an Event Token: Ed25519 signature, issuer == apiKeyID, approved.
func EventTokenVerify(eventTokenJSON, apiKeyID, publicKey string) error {
	var cs cStrings
	defer cs.free()
	j, err := cs.add(eventTokenJSON, "eventTokenJSON", false)
	if err != nil {
		return err
	}
	k, err := cs.add(apiKeyID, "apiKeyID", false)
	if err != nil {
		return err
	}
	pk, err := cs.add(publicKey, "publicKey", true)
	if err != nil {
		return err
	}
	var cerr *C.cotter_error
	return check(C.cotter_event_token_verify(j, k, pk, &cerr), cerr)
}
