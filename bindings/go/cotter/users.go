package cotter

/*
#include <stdlib.h>
#include <cotter.h>
*/
import "C"

import (
	"context"
	"encoding/json"
	"unsafe"
)

// Users, social tokens and the identity cross the C ABI as the JSON the library checked (capi/abi.json
// `records`); their types and decoders are generated (records_gen.go).

// takeRecord reads the JSON result of a call into a generated record type (or a slice of them).
func takeRecord[T any](call *C.cotter_call, cerr **C.cotter_error) (*T, C.int) {
	var buf C.cotter_buf
	if rc := C.cotter_call_take_buf(&buf, call, cerr); rc != C.COTTER_OK {
		return nil, rc
	}
	defer C.cotter_buf_dispose(&buf) // wipes: the record may hold tokens
	v := new(T)
	if err := json.Unmarshal(C.GoBytes(unsafe.Pointer(buf.ptr), C.int(buf.len)), v); err != nil {
		return nil, recordError(err)
	}
	return v, C.COTTER_OK
}

func takeUser(call *C.cotter_call, cerr **C.cotter_error) (*User, C.int) {
	return takeRecord[User](call, cerr)
}

// recordError is the status of a record the library checked that still does not decode (its token set refused
// by the library's own parser, say): that error's code, else COTTER_EPROTOCOL.
func recordError(err error) C.int {
	if e, ok := err.(*Error); ok {
		return C.int(e.Code)
	}
	return C.COTTER_EPROTOCOL
}

// rawObject is a JSON object member as text ("" when absent or null), as the Identity's IdentityTokenJSON.
func rawObject(m json.RawMessage) string {
	if len(m) == 0 || string(m) == "null" {
		return ""
	}
	return string(m)
}

// tokenOrNil is an oauth_token member as a Token (parsed by the library), nil when absent or null.
func tokenOrNil(m json.RawMessage) (*Token, error) {
	if len(m) == 0 || string(m) == "null" {
		return nil, nil
	}
	return TokenFromJSON(m)
}

// UserCreate creates a user (POST /user/create).
func (c *Client) UserCreate(ctx context.Context, identifier string) (*User, error) {
	return withString(ctx, c, identifier, "identifier", false,
		func(out **C.cotter_call, p *C.cotter_client, a *C.char, o *C.cotter_call_options, e **C.cotter_error) C.int {
			return C.cotter_client_user_create_start(out, p, a, o, e)
		}, takeUser)
}

// UserGetByIdentifier looks a user up by email or phone. Errors: ErrNotFound.
func (c *Client) UserGetByIdentifier(ctx context.Context, identifier string) (*User, error) {
	return withString(ctx, c, identifier, "identifier", false,
		func(out **C.cotter_call, p *C.cotter_client, a *C.char, o *C.cotter_call_options, e **C.cotter_error) C.int {
			return C.cotter_client_user_get_by_identifier_start(out, p, a, o, e)
		}, takeUser)
}

// UserGet gets a user by Cotter user id. Errors: ErrNotFound.
func (c *Client) UserGet(ctx context.Context, userID string) (*User, error) {
	return withString(ctx, c, userID, "userID", false,
		func(out **C.cotter_call, p *C.cotter_client, a *C.char, o *C.cotter_call_options, e **C.cotter_error) C.int {
			return C.cotter_client_user_get_start(out, p, a, o, e)
		}, takeUser)
}

// UserList gets one page of users (50 per page, newest first; needs the secret).
func (c *Client) UserList(ctx context.Context, page uint) ([]User, error) {
	p, err := c.UserListPage(ctx, page)
	if err != nil {
		return nil, err
	}
	return p.Users, nil
}

// UserPage is one page of users with the paging facts the server sent.
type UserPage struct {
	Users   []User
	Total   int64 // the project's user count; -1 when the server did not say
	HasMore int   // 1 or 0 as the server said whether more pages follow; -1 when it did not say
}

// UserListPage gets one page of users like UserList, keeping the server's total and has_more.
func (c *Client) UserListPage(ctx context.Context, page uint) (*UserPage, error) {
	return clientCall(ctx, c, func(*cStrings) (clientStart, error) {
		return func(p *C.cotter_client, o *C.cotter_call_options, out **C.cotter_call, e **C.cotter_error) C.int {
			return C.cotter_client_user_list_start(out, p, C.uint(page), o, e)
		}, nil
	}, func(call *C.cotter_call, cerr **C.cotter_error) (*UserPage, C.int) {
		// The page the library wrote (capi/abi.json `records`: user_page); null = the server did not say.
		w, rc := takeRecord[struct {
			Users   []User `json:"users"`
			Total   *int64 `json:"total"`
			HasMore *bool  `json:"has_more"`
		}](call, cerr)
		if rc != C.COTTER_OK {
			return nil, rc
		}
		page := &UserPage{Users: w.Users, Total: -1, HasMore: -1}
		if w.Total != nil {
			page.Total = *w.Total
		}
		if w.HasMore != nil {
			page.HasMore = 0
			if *w.HasMore {
				page.HasMore = 1
			}
		}
		return page, C.COTTER_OK
	})
}

// SocialTokensList lists a user's provider tokens (needs the secret).
func (c *Client) SocialTokensList(ctx context.Context, cotterUserID string) ([]SocialToken, error) {
	return withString(ctx, c, cotterUserID, "cotterUserID", false,
		func(out **C.cotter_call, p *C.cotter_client, a *C.char, o *C.cotter_call_options, e **C.cotter_error) C.int {
			return C.cotter_client_social_tokens_list_start(out, p, a, o, e)
		}, func(call *C.cotter_call, cerr **C.cotter_error) ([]SocialToken, C.int) {
			list, rc := takeRecord[[]SocialToken](call, cerr)
			if rc != C.COTTER_OK {
				return nil, rc
			}
			return *list, C.COTTER_OK
		})
}

// providerAndUser prepares the calls of one provider token: (provider, cotterUserID).
func providerAndUser(provider, cotterUserID string,
	fn func(out **C.cotter_call, p *C.cotter_client, prov, id *C.char, o *C.cotter_call_options, e **C.cotter_error) C.int) func(*cStrings) (clientStart, error) {
	return func(cs *cStrings) (clientStart, error) {
		prov, err := cs.add(provider, "provider", false)
		if err != nil {
			return nil, err
		}
		id, err := cs.add(cotterUserID, "cotterUserID", false)
		if err != nil {
			return nil, err
		}
		return func(p *C.cotter_client, o *C.cotter_call_options, out **C.cotter_call, e **C.cotter_error) C.int {
			return fn(out, p, prov, id, o, e)
		}, nil
	}
}

// SocialTokenGet gets a user's token of one provider. Errors: ErrNotFound.
func (c *Client) SocialTokenGet(ctx context.Context, provider, cotterUserID string) (*SocialToken, error) {
	return clientCall(ctx, c, providerAndUser(provider, cotterUserID,
		func(out **C.cotter_call, p *C.cotter_client, prov, id *C.char, o *C.cotter_call_options, e **C.cotter_error) C.int {
			return C.cotter_client_social_token_get_start(out, p, prov, id, o, e)
		}), takeRecord[SocialToken])
}

// SocialTokenDelete deletes a user's token of one provider. Errors: ErrNotFound.
func (c *Client) SocialTokenDelete(ctx context.Context, provider, cotterUserID string) error {
	_, err := clientCall(ctx, c, providerAndUser(provider, cotterUserID,
		func(out **C.cotter_call, p *C.cotter_client, prov, id *C.char, o *C.cotter_call_options, e **C.cotter_error) C.int {
			return C.cotter_client_social_token_delete_start(out, p, prov, id, o, e)
		}), waitResult)
	return err
}
