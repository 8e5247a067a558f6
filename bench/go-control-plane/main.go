// A reference ADS server for Waymark's benchmarks: go-control-plane's SnapshotCache behind its
// standard server (state-of-the-world and delta), keyed by node.cluster like Waymark (one snapshot per
// waypoint). The benchmark loads snapshots through a small HTTP API with the same encoded resources
// and per-type versions that Waymark serves, so both servers answer the same simulated proxies with
// the same versions.
//
//	POST /snapshot?node=<gateway>.<namespace>   body: {"versions":{typeUrl:v},"resources":{typeUrl:{name:base64}}}
//	GET  /stats                                  {"heapAllocBytes":…,"sysBytes":…,"goroutines":…}
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/lua/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/proxy_protocol/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// byCluster keys snapshots by node.cluster (`<gateway>.<namespace>`), one per waypoint.
type byCluster struct{}

func (byCluster) ID(node *core.Node) string {
	if node == nil {
		return ""
	}
	return node.GetCluster()
}

type snapshotBody struct {
	Versions  map[string]string            `json:"versions"`
	Resources map[string]map[string]string `json:"resources"`
}

func newMessage(typeURL string) (types.Resource, error) {
	switch typeURL {
	case resourcev3.ClusterType:
		return &cluster.Cluster{}, nil
	case resourcev3.EndpointType:
		return &endpoint.ClusterLoadAssignment{}, nil
	case resourcev3.ListenerType:
		return &listener.Listener{}, nil
	case resourcev3.RouteType:
		return &route.RouteConfiguration{}, nil
	}
	return nil, fmt.Errorf("unsupported type %s", typeURL)
}

// buildSnapshot decodes every resource once and gives each type its own version.
func buildSnapshot(b *snapshotBody) (*cachev3.Snapshot, error) {
	snap := &cachev3.Snapshot{}
	for typeURL, byName := range b.Resources {
		items := make([]types.Resource, 0, len(byName))
		for name, b64 := range byName {
			raw, err := base64.StdEncoding.DecodeString(b64)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", typeURL, name, err)
			}
			m, err := newMessage(typeURL)
			if err != nil {
				return nil, err
			}
			if err := proto.Unmarshal(raw, m); err != nil {
				return nil, fmt.Errorf("%s %s: %w", typeURL, name, err)
			}
			items = append(items, m)
		}
		idx := cachev3.GetResponseType(typeURL)
		if idx == types.UnknownType {
			return nil, fmt.Errorf("unknown type %s", typeURL)
		}
		snap.Resources[idx] = cachev3.NewResources(b.Versions[typeURL], items)
	}
	// Types the waypoint has no resources of still get their version (an empty set).
	for typeURL, v := range b.Versions {
		idx := cachev3.GetResponseType(typeURL)
		if idx != types.UnknownType && snap.Resources[idx].Items == nil {
			snap.Resources[idx] = cachev3.NewResources(v, nil)
		}
	}
	return snap, nil
}

func main() {
	adsAddr := flag.String("ads", "127.0.0.1:0", "ADS gRPC listen address")
	httpAddr := flag.String("http", "127.0.0.1:0", "control API listen address")
	flag.Parse()

	ctx := context.Background()
	cache := cachev3.NewSnapshotCache(true, byCluster{}, nil)
	srv := serverv3.NewServer(ctx, cache, serverv3.CallbackFuncs{})
	g := grpc.NewServer(grpc.MaxRecvMsgSize(32<<20), grpc.MaxConcurrentStreams(1<<20))
	discovery.RegisterAggregatedDiscoveryServiceServer(g, srv)
	adsL, err := net.Listen("tcp", *adsAddr)
	if err != nil {
		log.Fatal(err)
	}
	httpL, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /snapshot", func(w http.ResponseWriter, r *http.Request) {
		node := r.URL.Query().Get("node")
		var body snapshotBody
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		snap, err := buildSnapshot(&body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := cache.SetSnapshot(r.Context(), node, snap); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		_ = json.NewEncoder(w).Encode(map[string]uint64{
			"heapAllocBytes": ms.HeapAlloc,
			"sysBytes":       ms.Sys,
			"goroutines":     uint64(runtime.NumGoroutine()),
		})
	})

	// The parent reads the two ports from this first line of stdout.
	fmt.Fprintf(os.Stdout, "{\"ads\":%d,\"http\":%d}\n", adsL.Addr().(*net.TCPAddr).Port, httpL.Addr().(*net.TCPAddr).Port)
	go func() { log.Fatal(http.Serve(httpL, mux)) }()
	log.Fatal(g.Serve(adsL))
}
