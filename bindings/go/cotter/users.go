package cotter

/*
#include <stdlib.h>
#include <cotter.h>
*/
import "C"

import (
	"context"
	"fmt"
	"unsafe"
)

// User is a Cotter user, copied out of the library.
type User struct {
	ID            string
	Issuer        string // the project's API key id
	ClientUserID  string
	Identifier    string
	DefaultMethod string
	CreatedAt     string
	Enrolled      []string
	JSON          []byte // the user object as received (unknown fields included)
}

func userOf(u *C.cotter_user) User {
	var n C.size_t
	js := C.cotter_user_json(u, &n)
	user := User{
		ID:            goString(C.cotter_user_id(u)),
		Issuer:        goString(C.cotter_user_issuer(u)),
		ClientUserID:  goString(C.cotter_user_client_user_id(u)),
		Identifier:    goString(C.cotter_user_identifier(u)),
		DefaultMethod: goString(C.cotter_user_default_method(u)),
		CreatedAt:     goString(C.cotter_user_created_at(u)),
		JSON:          C.GoBytes(unsafe.Pointer(js), C.int(n)),
	}
	for i := 0; i < int(C.cotter_user_enrolled_count(u)); i++ {
		user.Enrolled = append(user.Enrolled, goString(C.cotter_user_enrolled(u, C.size_t(i))))
	}
	return user
}

func takeUser(call *C.cotter_call, cerr **C.cotter_error) (*User, C.int) {
	var out *C.cotter_user
	if rc := C.cotter_call_take_user(&out, call, cerr); rc != C.COTTER_OK {
		return nil, rc
	}
	defer C.cotter_user_free(out)
	u := userOf(out)
	return &u, C.COTTER_OK
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
		var out *C.cotter_user_list
		if rc := C.cotter_call_take_user_list(&out, call, cerr); rc != C.COTTER_OK {
			return nil, rc
		}
		defer C.cotter_user_list_free(out)
		n := int(C.cotter_user_list_count(out))
		users := make([]User, 0, n)
		for i := 0; i < n; i++ {
			users = append(users, userOf(C.cotter_user_list_get(out, C.size_t(i))))
		}
		return &UserPage{Users: users, Total: int64(C.cotter_user_list_total(out)),
			HasMore: int(C.cotter_user_list_has_more(out))}, C.COTTER_OK
	})
}

// SocialToken is a social-login provider token record (GitHub, Google), copied out of the library.
type SocialToken struct {
	Provider         string
	ProviderUserID   string
	ProviderUsername string
	UserID           string
	AccessToken      string // the provider's token: a secret
	Scope            string
	TokenType        string
	JSON             []byte // the record as received (holds the provider token)
}

// String hides the provider token.
func (t SocialToken) String() string {
	return fmt.Sprintf("SocialToken{Provider:%q UserID:%q ProviderUsername:%q}", t.Provider, t.UserID, t.ProviderUsername)
}

// GoString hides the provider token from %#v too.
func (t SocialToken) GoString() string { return t.String() }

func socialTokenOf(t *C.cotter_social_token) SocialToken {
	var n C.size_t
	js := C.cotter_social_token_json(t, &n)
	return SocialToken{
		Provider:         goString(C.cotter_social_token_provider(t)),
		ProviderUserID:   goString(C.cotter_social_token_provider_user_id(t)),
		ProviderUsername: goString(C.cotter_social_token_provider_username(t)),
		UserID:           goString(C.cotter_social_token_user_id(t)),
		AccessToken:      goString(C.cotter_social_token_access_token(t)),
		Scope:            goString(C.cotter_social_token_scope(t)),
		TokenType:        goString(C.cotter_social_token_token_type(t)),
		JSON:             C.GoBytes(unsafe.Pointer(js), C.int(n)),
	}
}

// SocialTokensList lists a user's provider tokens (needs the secret).
func (c *Client) SocialTokensList(ctx context.Context, cotterUserID string) ([]SocialToken, error) {
	return withString(ctx, c, cotterUserID, "cotterUserID", false,
		func(out **C.cotter_call, p *C.cotter_client, a *C.char, o *C.cotter_call_options, e **C.cotter_error) C.int {
			return C.cotter_client_social_tokens_list_start(out, p, a, o, e)
		}, func(call *C.cotter_call, cerr **C.cotter_error) ([]SocialToken, C.int) {
			var out *C.cotter_social_token_list
			if rc := C.cotter_call_take_social_token_list(&out, call, cerr); rc != C.COTTER_OK {
				return nil, rc
			}
			defer C.cotter_social_token_list_free(out)
			n := int(C.cotter_social_token_list_count(out))
			list := make([]SocialToken, 0, n)
			for i := 0; i < n; i++ {
				list = append(list, socialTokenOf(C.cotter_social_token_list_get(out, C.size_t(i))))
			}
			return list, C.COTTER_OK
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
		}), func(call *C.cotter_call, cerr **C.cotter_error) (*SocialToken, C.int) {
		var out *C.cotter_social_token
		if rc := C.cotter_call_take_social_token(&out, call, cerr); rc != C.COTTER_OK {
			return nil, rc
		}
		defer C.cotter_social_token_free(out)
		t := socialTokenOf(out)
		return &t, C.COTTER_OK
	})
}

// SocialTokenDelete deletes a user's token of one provider. Errors: ErrNotFound.
func (c *Client) SocialTokenDelete(ctx context.Context, provider, cotterUserID string) error {
	_, err := clientCall(ctx, c, providerAndUser(provider, cotterUserID,
		func(out **C.cotter_call, p *C.cotter_client, prov, id *C.char, o *C.cotter_call_options, e **C.cotter_error) C.int {
			return C.cotter_client_social_token_delete_start(out, p, prov, id, o, e)
		}), waitResult)
	return err
}
