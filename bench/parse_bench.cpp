// Reading a cluster file: parseCluster (what the agent does at cold start and on every change of
// the file) against two peers measured in the same run on the same file: libyaml's event parser
// alone (a lower bound: every byte scanned, nothing built) and yaml-cpp's YAML::Load (the document
// tree ovl used to build). Optionally also the parseCluster of another build of this command
// (--compare, e.g. main's), so that a before/after ratio comes from one run.
//
// Each measurement runs in a fresh child process, which reads the file, parses it once and
// reports its wall time and its peak RSS (VmHWM): the memory a parse costs is what an operator
// meets, and a process that already parsed once would hide it. The kinds alternate run by run.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>
#include <yaml.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bench/bench_util.h"
#include "model/cluster_file.h"

namespace {

using ovl::bench::nowMs;

std::string readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  if (!in) {
    throw std::runtime_error("cannot read " + path);
  }
  return s.str();
}

long vmHwmKb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      return std::strtol(line.c_str() + 6, nullptr, 10);
    }
  }
  return -1;
}

// The cluster file bench/services_bench.cpp writes (10.0.x.y VIPs, endpoints on node2).
void writeCluster(const std::string& path, int services, int endpoints) {
  std::ofstream c(path);
  c << "network:\n  podCIDR: 10.244.0.0/16\n  serviceCIDR: 10.96.0.0/12\n"
       "nodes:\n  - name: node1\n    underlayIP: 192.168.50.1\n    podSubnet: 10.244.0.0/24\n"
       "services:\n";
  for (int i = 0; i < services; ++i) {
    c << fmt::format(
        "  - namespace: bench\n    name: svc-{}\n    clusterIP: 10.96.{}.{}\n    ports:\n"
        "      - name: http\n        port: 80\n        targetPort: 8080\n    endpoints:\n",
        i, 1 + i / 250, 1 + i % 250);
    for (int e = 0; e < endpoints; ++e) {
      const int n = i * endpoints + e;
      c << fmt::format("      - ip: 10.245.{}.{}\n        node: node2\n", (n / 250) % 250,
                       1 + n % 250);
    }
  }
  if (!c) {
    throw std::runtime_error("cannot write " + path);
  }
}

// libyaml's events, nothing kept: the cost of reading the text at all.
size_t libyamlEvents(const std::string& text) {
  yaml_parser_t parser;
  yaml_parser_initialize(&parser);
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()),
                               text.size());
  size_t events = 0;
  for (;;) {
    yaml_event_t event;
    if (!yaml_parser_parse(&parser, &event)) {
      break;
    }
    const bool end = event.type == YAML_STREAM_END_EVENT;
    yaml_event_delete(&event);
    ++events;
    if (end) {
      break;
    }
  }
  yaml_parser_delete(&parser);
  return events;
}

// The child: one parse of `kind`, then "milliseconds hwm-kB" on stdout.
int child(const std::string& kind, const std::string& file) {
  const std::string text = readAll(file);
  const double t0 = nowMs();
  size_t check = 0;
  if (kind == "parseCluster") {
    ovl::ClusterLoad load = ovl::parseCluster(text, file);
    check = load.cluster.services.size() + (load.fatal ? 1000000000 : 0);
  } else if (kind == "libyaml-events") {
    check = libyamlEvents(text);
  } else if (kind == "yaml-cpp-Load") {
    YAML::Node root = YAML::Load(text);
    check = root["services"].size();
  } else {
    throw std::runtime_error("unknown kind " + kind);
  }
  const double ms = nowMs() - t0;
  std::printf("%.3f %ld %zu\n", ms, vmHwmKb(), check);
  return 0;
}

struct Sample {
  double ms = 0;
  double hwmMb = 0;
  std::string check;
};

// Runs `binary --child kind file` and reads its one line.
Sample runChild(const std::string& binary, const std::string& kind, const std::string& file) {
  const std::string cmd = fmt::format("'{}' --child '{}' '{}'", binary, kind, file);
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) {
    throw std::runtime_error("cannot run " + cmd);
  }
  char line[256] = {};
  const bool got = std::fgets(line, sizeof line, p) != nullptr;
  if (::pclose(p) != 0 || !got) {
    throw std::runtime_error("failed: " + cmd);
  }
  Sample s;
  long hwm = 0;
  char check[64] = {};
  if (std::sscanf(line, "%lf %ld %63s", &s.ms, &hwm, check) != 3) {
    throw std::runtime_error("unexpected output of " + cmd + ": " + line);
  }
  s.hwmMb = static_cast<double>(hwm) / 1024.0;
  s.check = check;
  return s;
}

struct Kind {
  std::string label;
  std::string binary;
  std::string kind;
  std::vector<double> ms, hwm;
  std::string check;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ovl parse benchmark: parseCluster vs libyaml's events and yaml-cpp's tree"};
  std::string file;
  std::string childKind;
  std::string compare;
  int runs = 5;
  int services = 10000;
  int endpoints = 10;
  app.add_option("file", file, "cluster file (default: one generated with --services)");
  app.add_option("--runs", runs, "runs per figure")->check(CLI::Range(1, 100));
  app.add_option("--services", services, "services of the generated file")
      ->check(CLI::Range(1, 100000));
  app.add_option("--endpoints", endpoints, "endpoints per service")->check(CLI::Range(0, 1000));
  app.add_option("--compare", compare, "another ovl-bench-parse whose parseCluster runs too");
  app.add_option("--child", childKind, "internal: one measurement")->group("");
  CLI11_PARSE(app, argc, argv);
  try {
    if (!childKind.empty()) {
      return child(childKind, file);
    }
    std::string generated;
    if (file.empty()) {
      generated = fmt::format("/tmp/ovl-bench-parse-{}.yaml", ::getpid());
      writeCluster(generated, services, endpoints);
      file = generated;
    }
    const std::string self = "/proc/self/exe";
    char selfPath[4096] = {};
    const ssize_t n = ::readlink(self.c_str(), selfPath, sizeof selfPath - 1);
    const std::string me = n > 0 ? std::string(selfPath, static_cast<size_t>(n)) : argv[0];
    std::vector<Kind> kinds = {
        {"parseCluster (this build)", me, "parseCluster", {}, {}, {}},
        {"libyaml events only (peer)", me, "libyaml-events", {}, {}, {}},
        {"yaml-cpp YAML::Load only (peer)", me, "yaml-cpp-Load", {}, {}, {}}};
    if (!compare.empty()) {
      kinds.push_back({"parseCluster (--compare build)", compare, "parseCluster", {}, {}, {}});
    }
    for (int run = 0; run < runs; ++run) {
      for (size_t k = 0; k < kinds.size(); ++k) {
        // Alternating order: each run starts with a different kind.
        Kind& kind = kinds[(k + static_cast<size_t>(run)) % kinds.size()];
        Sample s = runChild(kind.binary, kind.kind, file);
        kind.ms.push_back(s.ms);
        kind.hwm.push_back(s.hwmMb);
        kind.check = s.check;
      }
    }
    std::printf("file %s (%ld bytes), %d runs, each in a fresh process\n", file.c_str(),
                static_cast<long>(readAll(file).size()), runs);
    for (const Kind& k : kinds) {
      ovl::bench::Stats m = ovl::bench::Stats::of(k.hwm);
      std::printf("%s\n", ovl::bench::describe(k.label + " time", k.ms).c_str());
      std::printf("%-58s median %9.1f MB  (min %9.1f, max %9.1f)  [services/events: %s]\n",
                  (k.label + " peak RSS (VmHWM)").c_str(), m.median, m.min, m.max, k.check.c_str());
    }
    const double base = ovl::bench::Stats::of(kinds[0].ms).median;
    for (size_t i = 1; i < kinds.size(); ++i) {
      std::printf("median time ratio %s / parseCluster (this build): %.2f\n",
                  kinds[i].label.c_str(), ovl::bench::Stats::of(kinds[i].ms).median / base);
    }
    if (!generated.empty()) {
      std::remove(generated.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ovl-bench-parse: %s\n", e.what());
    return 1;
  }
  return 0;
}
