package s3test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Weed is a SeaweedFS cluster: one master, three volume servers with
// replication 001 (each write also lands on a second server), a filer and
// the S3 gateway, each a process of its own, every one on 127.0.0.1 (the
// default -ip is the machine's external address, which tests must never
// use).
type Weed struct {
	*Server
	volumes []*proc
}

// Seaweed starts the cluster, makes a bucket and stops everything when the
// test ends. Without the weed binary it skips, or under CI=true fails,
// unless CAIRN_NO_SEAWEEDFS is set (CI without the distributed test). It takes a few seconds (up to ~15 on a loaded machine).
func Seaweed(t testing.TB) *Weed {
	t.Helper()
	if os.Getenv("CAIRN_NO_SEAWEEDFS") != "" {
		t.Skip("CAIRN_NO_SEAWEEDFS is set")
	}
	bin := need(t, mustPath(t, WeedPath), "seaweedfs")
	dir := t.TempDir()
	s := &Server{AccessKey: "cairntest", SecretKey: "cairntest-secret-" + randHex(8), Bucket: "cairn", Dir: dir}
	w := &Weed{Server: s}
	t.Cleanup(s.Stop)
	ports := make([]int, 0, 14)
	for range 14 {
		p, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, p)
	}
	port := func() string {
		p := ports[0]
		ports = ports[1:]
		return strconv.Itoa(p)
	}
	local := []string{"-ip=127.0.0.1", "-ip.bind=127.0.0.1"}
	run := func(name string, args ...string) *proc {
		t.Helper()
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		// -logdir: glog writes its files to /tmp otherwise.
		p, err := s.start(d, name, nil, bin, append([]string{"-logdir=" + d}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	ready := func(p *proc, url string, ok ...int) {
		t.Helper()
		if err := waitHTTP(p, url, 60*time.Second, ok...); err != nil {
			t.Fatal(err)
		}
	}

	mport := port()
	master := "127.0.0.1:" + mport
	mp := run("master", append([]string{"master", "-port=" + mport, "-port.grpc=" + port(), "-mdir=" + filepath.Join(dir, "master"),
		"-defaultReplication=001", "-volumeSizeLimitMB=64", "-peers=none"}, local...)...)
	ready(mp, "http://"+master+"/cluster/status", 200)
	// The volume servers find the master's gRPC port as its HTTP port
	// plus 10000 unless told: say it in the address, "host:port.grpc".
	masterAddr := master + "." + mp.grpcPort(t)
	for i := range 3 {
		vport := port()
		name := fmt.Sprintf("volume%d", i)
		p := run(name, append([]string{"volume", "-port=" + vport, "-port.grpc=" + port(), "-dir=" + filepath.Join(dir, name),
			"-max=30", "-master=" + masterAddr, "-preStopSeconds=0"}, local...)...)
		ready(p, "http://127.0.0.1:"+vport+"/status", 200)
		w.volumes = append(w.volumes, p)
	}
	fport, fgrpc := port(), port()
	fp := run("filer", append([]string{"filer", "-port=" + fport, "-port.grpc=" + fgrpc, "-master=" + masterAddr,
		"-defaultStoreDir=" + filepath.Join(dir, "filer"), "-localSocket=" + filepath.Join(dir, "filer.sock")}, local...)...)
	ready(fp, "http://127.0.0.1:"+fport+"/", 200, 404)

	identities := map[string]any{"identities": []map[string]any{{
		"name":        "cairn",
		"credentials": []map[string]string{{"accessKey": s.AccessKey, "secretKey": s.SecretKey}},
		"actions":     []string{"Admin", "Read", "Write", "List", "Tagging"},
	}}}
	cfg := filepath.Join(dir, "s3.json")
	b, _ := json.Marshal(identities)
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	sport := port()
	sp := run("s3", append([]string{"s3", "-port=" + sport, "-port.grpc=" + port(), "-filer=127.0.0.1:" + fport + "." + fgrpc,
		"-config=" + cfg, "-port.iceberg=0", "-port.lance=0", "-localSocket=" + filepath.Join(dir, "s3.sock")}, local...)...)
	s.Endpoint = "http://127.0.0.1:" + sport
	// The gateway answers an anonymous GET with 403 once it is ready.
	ready(sp, s.Endpoint+"/", 403)
	if err := s.MakeBucket(context.Background(), s.Bucket); err != nil {
		t.Fatal(err)
	}
	return w
}

// grpcPort is the -port.grpc a process was started with.
func (p *proc) grpcPort(t testing.TB) string {
	for _, a := range p.cmd.Args {
		if v, ok := strings.CutPrefix(a, "-port.grpc="); ok {
			return v
		}
	}
	t.Fatalf("%s has no -port.grpc", p.name)
	return ""
}

// KillVolume kills volume server i with SIGKILL, as a crash would.
func (w *Weed) KillVolume(i int) {
	p := w.volumes[i]
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}
