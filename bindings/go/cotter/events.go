package cotter

/*
#include <cotter.h>
*/
import "C"

import (
	"context"
	"encoding/json"
)

// Trusted-device events (spec §2.11). The event crosses the C ABI as the JSON object the library checked (ID, new,
// approved...); decode it with encoding/json.

// EventCreatePending asks the trusted device of clientUserID to approve event (e.g. "LOGIN"): POST
// /event/create_pending. With codeChallenge (a PKCE challenge; "" = none) only its verifier collects the tokens
// (EventGet). Errors: ErrNotFound (no such user), ErrOAuth (the API refused, e.g. no trusted device), ErrInvalid.
func (c *Client) EventCreatePending(ctx context.Context, clientUserID, event, codeChallenge string) (json.RawMessage, error) {
	return clientCall(ctx, c, func(cs *cStrings) (clientStart, error) {
		user, err := cs.add(clientUserID, "clientUserID", false)
		if err != nil {
			return nil, err
		}
		ev, err := cs.add(event, "event", false)
		if err != nil {
			return nil, err
		}
		ch, err := cs.add(codeChallenge, "codeChallenge", true)
		if err != nil {
			return nil, err
		}
		return func(p *C.cotter_client, o *C.cotter_call_options, out **C.cotter_call, e **C.cotter_error) C.int {
			return C.cotter_client_event_create_pending_start(out, p, user, ev, ch, o, e)
		}, nil
	}, takeJSON)
}

// EventGet polls an event: GET /event/get/:eventID ("new" is true while it waits, then "approved"). With
// codeVerifier ("" = none) an approved event carries "oauth_token", the user's tokens (once). Errors: ErrNotFound.
func (c *Client) EventGet(ctx context.Context, eventID int64, codeVerifier string) (json.RawMessage, error) {
	return clientCall(ctx, c, func(cs *cStrings) (clientStart, error) {
		v, err := cs.add(codeVerifier, "codeVerifier", true)
		if err != nil {
			return nil, err
		}
		return func(p *C.cotter_client, o *C.cotter_call_options, out **C.cotter_call, e **C.cotter_error) C.int {
			return C.cotter_client_event_get_start(out, p, C.int64_t(eventID), v, o, e)
		}, nil
	}, takeJSON)
}

// takeJSON reads a record that crosses the ABI as JSON text.
func takeJSON(call *C.cotter_call, cerr **C.cotter_error) (json.RawMessage, C.int) {
	s, rc := takeString(call, cerr)
	if rc != C.COTTER_OK {
		return nil, rc
	}
	return json.RawMessage(s), C.COTTER_OK
}
