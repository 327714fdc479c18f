// Command go_refresh_concurrent (bench/go): 1,000 concurrent refresh grants from one Go process, the
// emulator holding each 100 ms (latency_ms on the refresh route), with cotter's Client.Refresh against
// net/http doing the same requests (same POST, same JSON parse), as a backend author would write it.
// Rounds alternate between the two; each side keeps its own 1,000 refresh-token chains and its warm
// connections. JSON lines {"bench","ops_per_sec" (grants per second of wall time),"baseline","ratio",
// "wall_ms","cpu_us_per_call" (this process, all threads)}.
//
// Built and run by bench/run (build/bench/bench/go_refresh_concurrent); by hand, from the repository root:
//
//	cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release && cmake --build build/release -j 2
//	(cd bench/go && PKG_CONFIG_PATH=$PWD/../../build/release CGO_ENABLED=1 go run . [-calls 1000] [-rounds 3])
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
)

const refreshRoute = "POST /api/v0/token/:api_key_id"

type info struct {
	BaseURL      string `json:"base_url"`
	APIKeyID     string `json:"api_key_id"`
	APISecretKey string `json:"api_secret_key"`
	DevURL       string `json:"dev_url"`
	DevToken     string `json:"dev_token"` // emulators that guard /dev print it; sent as X-Cotter-Dev-Token
}

// repoRoot is the first directory, from the working directory up, that holds the emulator.
func repoRoot() string {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "emulator/bin/cotter-emulator.js")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			fail(fmt.Errorf("run from inside the repository (no emulator/bin/cotter-emulator.js above %s)", dir))
		}
		dir = parent
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "go_refresh_concurrent:", err)
	os.Exit(1)
}

var dev = &http.Client{Timeout: time.Minute}

// devCall is one request to the emulator's dev API (no faults, not counted in its stats).
func devCall(in info, method, path string, body any, out any) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, in.DevURL+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if in.DevToken != "" {
		req.Header.Set("X-Cotter-Dev-Token", in.DevToken)
	}
	resp, err := dev.Do(req)
	if err != nil {
		fail(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		fail(fmt.Errorf("dev %s %s: %d %s", method, path, resp.StatusCode, data))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			fail(err)
		}
	}
}

func loginRefreshToken(in info, who string) string {
	var body struct {
		OAuthToken struct {
			RefreshToken string `json:"refresh_token"`
		} `json:"oauth_token"`
	}
	devCall(in, "POST", "/login", map[string]any{"identifier": who}, &body)
	return body.OAuthToken.RefreshToken
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// storm runs one refresh on every chain at once and returns the wall time and this process's CPU time.
func storm(in info, chains []string, refresh func(i int, rt string) (string, error)) (wall, cpu time.Duration) {
	devCall(in, "POST", "/faults", map[string]any{"route": refreshRoute, "latency_ms": 100, "count": len(chains)}, nil)
	var wg sync.WaitGroup
	errs := make(chan error, len(chains))
	cpu0, start := cpuTime(), time.Now()
	for i := range chains {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			next, err := refresh(i, chains[i])
			if err != nil {
				errs <- err
				return
			}
			chains[i] = next
		}(i)
	}
	wg.Wait()
	wall, cpu = time.Since(start), cpuTime()-cpu0
	close(errs)
	if err := <-errs; err != nil {
		fail(err)
	}
	return wall, cpu
}

func median(xs []time.Duration) time.Duration {
	s := append([]time.Duration(nil), xs...)
	sort.Slice(s, func(a, b int) bool { return s[a] < s[b] })
	return s[len(s)/2]
}

func main() {
	calls := flag.Int("calls", 1000, "concurrent refresh grants per storm")
	rounds := flag.Int("rounds", 3, "measured storms per side (after one warm-up each)")
	keep := flag.Int("keep", -1, "connections each side keeps between storms: 0 each side's defaults, N both keep N; "+
		"-1 runs both settings (defaults, then N = -calls)")
	only := flag.String("only", "", "run one side only (cotter or nethttp), e.g. under a profiler")
	flag.Parse()

	root := repoRoot()
	emu := exec.Command("node", filepath.Join(root, "emulator/bin/cotter-emulator.js"), "--port", "0")
	emu.Stderr = os.Stderr
	out, err := emu.StdoutPipe()
	if err != nil {
		fail(err)
	}
	if err := emu.Start(); err != nil {
		fail(err)
	}
	defer func() { _ = emu.Process.Kill(); _ = emu.Wait() }()
	line, err := bufio.NewReader(out).ReadBytes('\n')
	if err != nil {
		fail(err)
	}
	var in info
	if err := json.Unmarshal(line, &in); err != nil {
		fail(err)
	}

	// Each side's refresh-token chains, rotated by every storm.
	ours := make([]string, *calls)
	theirs := make([]string, *calls)
	for i := range ours {
		ours[i] = loginRefreshToken(in, fmt.Sprintf("go-cotter-%d@example.com", i))
		theirs[i] = loginRefreshToken(in, fmt.Sprintf("go-http-%d@example.com", i))
	}
	settings := []int{*keep}
	if *keep < 0 {
		settings = []int{0, *calls}
	}
	for _, k := range settings {
		compare(in, ours, theirs, k, *rounds, *only)
	}
}

// compare runs the storms of both sides, alternating, with keep idle connections per side (0: defaults).
func compare(in info, ours, theirs []string, keep, rounds int, only string) {
	// cotter: its defaults keep 64 idle connections (no cap on open ones); MaxHostConnections N caps open
	// connections at N and keeps as many.
	client, err := cotter.NewClient(cotter.ClientOptions{APIKeyID: in.APIKeyID, BaseURL: in.BaseURL, Timeout: time.Minute,
		MaxHostConnections: keep})
	if err != nil {
		fail(err)
	}
	defer client.Close()
	withCotter := func(_ int, rt string) (string, error) {
		tok, err := client.Refresh(context.Background(), rt)
		if err != nil {
			return "", err
		}
		defer tok.Close()
		return tok.RefreshToken(), nil
	}

	// net/http: its defaults keep 2 idle connections per host (no cap on open ones).
	transport := http.DefaultTransport.(*http.Transport).Clone()
	defer transport.CloseIdleConnections()
	if keep > 0 {
		transport.MaxIdleConns = 0
		transport.MaxIdleConnsPerHost = keep
	}
	hc := &http.Client{Transport: transport, Timeout: time.Minute}
	url := in.BaseURL + "/token/" + in.APIKeyID
	withNetHTTP := func(_ int, rt string) (string, error) {
		body, _ := json.Marshal(map[string]string{"grant_type": "refresh_token", "refresh_token": rt})
		req, _ := http.NewRequestWithContext(context.Background(), "POST", url, bytes.NewReader(body))
		req.Header.Set("API_KEY_ID", in.APIKeyID)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var tok struct {
			AccessToken  string `json:"access_token"`
			IDToken      string `json:"id_token"`
			RefreshToken string `json:"refresh_token"`
			TokenType    string `json:"token_type"`
			AuthMethod   string `json:"auth_method"`
			ExpiresIn    int64  `json:"expires_in"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
			return "", err
		}
		if resp.StatusCode != http.StatusOK || tok.RefreshToken == "" {
			return "", fmt.Errorf("net/http refresh: HTTP %d", resp.StatusCode)
		}
		return tok.RefreshToken, nil
	}

	var cw, cc, hw, hcpu []time.Duration
	for r := 0; r <= rounds; r++ { // round 0 warms up: connections, caches
		if only != "nethttp" {
			w, c := storm(in, ours, withCotter)
			if r > 0 {
				cw, cc = append(cw, w), append(cc, c)
			}
		}
		if only != "cotter" {
			w, c := storm(in, theirs, withNetHTTP)
			if r > 0 {
				hw, hcpu = append(hw, w), append(hcpu, c)
			}
		}
	}
	if only != "" {
		for _, side := range []struct {
			name      string
			wall, cpu []time.Duration
		}{{"cotter", cw, cc}, {"nethttp", hw, hcpu}} {
			if len(side.wall) > 0 {
				fmt.Fprintf(os.Stderr, "%s (keep %d): wall %v, CPU %v per storm (medians)\n", side.name, keep, median(side.wall), median(side.cpu))
			}
		}
		return
	}
	n := float64(len(ours))
	suffix := ""
	if keep > 0 {
		suffix = fmt.Sprintf("_keep%d", keep)
	}
	peer := fmt.Sprintf("go_nethttp_refresh_%d_concurrent%s", len(ours), suffix)
	emit := func(name string, wall, cpu time.Duration, ratio float64) {
		b, _ := json.Marshal(map[string]any{"bench": name, "ops_per_sec": round(n / wall.Seconds()), "baseline": peer,
			"ratio": round3(ratio), "wall_ms": wall.Milliseconds(), "cpu_us_per_call": round(float64(cpu.Microseconds()) / n),
			"latency_ms": 100, "keep_connections": keep, "rounds": rounds})
		fmt.Println(string(b))
	}
	emit(peer, median(hw), median(hcpu), 1.0)
	emit(fmt.Sprintf("go_cotter_refresh_%d_concurrent%s", len(ours), suffix), median(cw), median(cc),
		median(hw).Seconds()/median(cw).Seconds())
}

func round(x float64) float64  { return float64(int64(x*10+0.5)) / 10 }
func round3(x float64) float64 { return float64(int64(x*1000+0.5)) / 1000 }
