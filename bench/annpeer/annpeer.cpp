// annpeer-weft: Weft's C++ comparison peer for `weft bench ann`.
//
// It runs a reference ANN library on a dataset folder made by
// scripts/dataset.py and prints one JSON line per search setting, with the
// same fields, in the same order and with the same meaning as the lines of
// `weft bench ann` (bench/annbench), so the two compare line by line.
// scripts/build-peer.sh compiles it; docs/benchmarks.md describes the lines.
//
//   annpeer-weft ENGINE --data DIR [--k 10] [--build-threads N]
//                [--search-threads 1] [--runs 1] [--queries N] [engine options]
//
//   hnswlib        hnswlib::HierarchicalNSW      --M 16 --efc 200 --ef LIST
//   faiss-hnsw     faiss::IndexHNSWFlat          --M 16 --efc 200 --ef LIST
//   faiss-ivfflat  faiss::IndexIVFFlat           --nlist 1024 --nprobe LIST
//   faiss-ivfpq    faiss::IndexIVFPQ, refined    --nlist 1024 --m DIM/8 --nbits 8
//                  by faiss::IndexRefineFlat     --nprobe LIST --refine LIST
//
// The index is built once from the vectors in memory. Then, for each search
// setting, the queries are run one at a time (batch size 1) in --runs passes;
// the line reports the pass with the median QPS.

#include <dlfcn.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexRefine.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <hnswlib/hnswlib.h>

namespace {

constexpr const char* kProgram = "annpeer-weft";

struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

using Stopwatch = std::chrono::steady_clock;

double elapsed_s(Stopwatch::time_point since) {
    return std::chrono::duration<double>(Stopwatch::now() - since).count();
}

// CPU time of the whole process (all threads), in seconds.
double process_cpu_s() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// ============================================================================
// Command line: "--name value" pairs after the engine name. Every option given
// must be consumed by someone, so a misspelt or foreign option is an error
// instead of a setting silently left at its default.

class Flags {
  public:
    Flags(int argc, char** argv, int first) {
        for (int i = first; i < argc; i += 2) {
            std::string flag = argv[i];
            if (flag.size() < 3 || flag.compare(0, 2, "--") != 0)
                throw Failure("expected --option value, got " + flag);
            if (i + 1 == argc) throw Failure(flag + " has no value");
            given_[flag.substr(2)] = argv[i + 1];
        }
    }

    // The value of --name; without a fallback the option is required.
    std::string text(const std::string& name, const char* fallback = nullptr) {
        used_.insert(name);
        auto it = given_.find(name);
        if (it != given_.end()) return it->second;
        if (!fallback) throw Failure("--" + name + " is required");
        return fallback;
    }

    long count(const std::string& name, long fallback) {
        auto it = given_.find(name);
        used_.insert(name);
        return it == given_.end() ? fallback : to_count(name, it->second);
    }

    // A comma-separated list of counts.
    std::vector<long> counts(const std::string& name, const char* fallback) {
        std::string all = text(name, fallback);
        std::vector<long> out;
        size_t from = 0;
        while (true) {
            size_t comma = all.find(',', from);
            out.push_back(to_count(name, all.substr(from, comma - from)));
            if (comma == std::string::npos) break;
            from = comma + 1;
        }
        return out;
    }

    void reject_unused() const {
        for (const auto& entry : given_)
            if (!used_.count(entry.first))
                throw Failure("--" + entry.first + " is not an option of this engine");
    }

  private:
    static long to_count(const std::string& name, const std::string& s) {
        char* end = nullptr;
        errno = 0;
        long v = s.empty() ? -1 : std::strtol(s.c_str(), &end, 10);
        if (s.empty() || errno != 0 || *end != '\0' || v < 0)
            throw Failure("--" + name + ": want a whole number >= 0, got \"" + s + "\"");
        return v;
    }

    std::map<std::string, std::string> given_;
    std::set<std::string> used_;
};

// ============================================================================
// Dataset folder (see scripts/dataset.py): base.fvecs, query.fvecs,
// groundtruth.ivecs, distances.fvecs and meta.json.

// Rows of a TEXMEX .fvecs/.ivecs file: each row is an int32 count followed by
// that many 4-byte values, all rows of the same count.
template <typename T>
struct Rows {
    size_t n = 0, width = 0;
    std::vector<T> cells;
    const T* operator[](size_t i) const { return cells.data() + i * width; }
};

std::vector<char> slurp(const std::string& path) {
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
    if (!f) throw Failure("cannot open " + path + ": " + std::strerror(errno));
    std::vector<char> bytes;
    char chunk[1 << 16];
    for (size_t got; (got = std::fread(chunk, 1, sizeof chunk, f.get())) > 0;)
        bytes.insert(bytes.end(), chunk, chunk + got);
    if (std::ferror(f.get())) throw Failure("cannot read " + path);
    return bytes;
}

template <typename T>
Rows<T> read_rows(const std::string& path) {
    static_assert(sizeof(T) == 4, "vecs cells are 4 bytes");
    std::vector<char> bytes = slurp(path);
    Rows<T> r;
    int32_t width = 0;
    if (bytes.size() >= 4) std::memcpy(&width, bytes.data(), 4);
    const size_t stride = 4 * (size_t(width) + 1);
    if (width <= 0 || bytes.size() % stride != 0) throw Failure(path + " is not a .fvecs/.ivecs file");
    r.width = size_t(width);
    r.n = bytes.size() / stride;
    r.cells.resize(r.n * r.width);
    for (size_t i = 0; i < r.n; i++) {
        const char* row = bytes.data() + i * stride;
        int32_t w;
        std::memcpy(&w, row, 4);
        if (w != width) throw Failure(path + ": row " + std::to_string(i) + " has another dimension");
        std::memcpy(r.cells.data() + i * r.width, row + 4, 4 * r.width);
    }
    return r;
}

// The string value of "key" in a flat JSON object (all meta.json needs).
std::string json_field(const std::string& json, const std::string& key) {
    const std::string quoted = "\"" + key + "\"";
    for (size_t at = json.find(quoted); at != std::string::npos; at = json.find(quoted, at + 1)) {
        size_t p = json.find_first_not_of(" \t\r\n", at + quoted.size());
        if (p == std::string::npos || json[p] != ':') continue;
        p = json.find_first_not_of(" \t\r\n", p + 1);
        if (p == std::string::npos || json[p] != '"') continue;
        size_t end = json.find('"', p + 1);
        if (end == std::string::npos) break;
        return json.substr(p + 1, end - p - 1);
    }
    throw Failure("meta.json has no string \"" + key + "\"");
}

void unit_length(Rows<float>& v) {
    for (size_t i = 0; i < v.n; i++) {
        float* x = v.cells.data() + i * v.width;
        double norm2 = 0;
        for (size_t j = 0; j < v.width; j++) norm2 += double(x[j]) * double(x[j]);
        const float scale = norm2 > 0 ? float(1.0 / std::sqrt(norm2)) : 0.0f;
        for (size_t j = 0; j < v.width; j++) x[j] *= scale;
    }
}

struct Dataset {
    std::string name;
    std::string metric;  // "l2", "cosine" or "ip"
    Rows<float> base, queries, true_dist;
    Rows<int32_t> true_ids;

    size_t dim() const { return base.width; }
    size_t gt_k() const { return true_ids.width; }

    static Dataset load(const std::string& dir) {
        Dataset d;
        std::string meta;
        try {
            std::vector<char> raw = slurp(dir + "/meta.json");
            meta.assign(raw.begin(), raw.end());
        } catch (const Failure&) {
            throw Failure("no meta.json in " + dir + " (make the folder with scripts/dataset.py NAME)");
        }
        d.name = json_field(meta, "name");
        d.metric = json_field(meta, "metric");
        if (d.metric != "l2" && d.metric != "cosine" && d.metric != "ip")
            throw Failure("meta.json: unknown metric " + d.metric);
        d.base = read_rows<float>(dir + "/base.fvecs");
        d.queries = read_rows<float>(dir + "/query.fvecs");
        d.true_ids = read_rows<int32_t>(dir + "/groundtruth.ivecs");
        d.true_dist = read_rows<float>(dir + "/distances.fvecs");
        if (d.queries.width != d.base.width || d.true_ids.n != d.queries.n ||
            d.true_dist.n != d.queries.n || d.true_dist.width != d.true_ids.width)
            throw Failure(dir + ": the dataset files do not agree in shape");
        // Cosine is served as inner product over unit vectors, by every engine.
        if (d.metric == "cosine") {
            unit_length(d.base);
            unit_length(d.queries);
        }
        return d;
    }

    // The distance distances.fvecs records: Euclidean (not squared) for l2,
    // 1 - cosine for cosine, minus the inner product for ip. Float64 sums.
    double true_distance(const float* q, size_t id) const {
        const float* x = base[id];
        double acc = 0;
        if (metric == "l2") {
            for (size_t j = 0; j < dim(); j++) {
                double diff = double(q[j]) - double(x[j]);
                acc += diff * diff;
            }
            return std::sqrt(acc);
        }
        for (size_t j = 0; j < dim(); j++) acc += double(q[j]) * double(x[j]);
        return metric == "cosine" ? 1.0 - acc : -acc;
    }

    // recall@k of one answer. Each distinct id inside the base counts as a hit
    // when its exact distance is within the k-th true distance (plus 1e-5
    // relative), so an engine may return either of two tied neighbours.
    double recall(size_t qi, const int64_t* ids, size_t k) const {
        std::vector<int64_t> distinct(ids, ids + k);
        std::sort(distinct.begin(), distinct.end());
        distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
        const double kth = true_dist[qi][k - 1];
        const double bound = kth + 1e-5 * std::fabs(kth);
        size_t hits = 0;
        for (int64_t id : distinct)
            if (id >= 0 && size_t(id) < base.n && true_distance(queries[qi], size_t(id)) <= bound) hits++;
        return double(hits) / double(k);
    }
};

// ============================================================================
// Threads.

// Sizes OpenMP's pool and, when the BLAS behind libblas.so.3 is OpenBLAS, its
// own pool too (found at run time, so any BLAS links).
void use_threads(int n) {
    omp_set_num_threads(n);
    if (void* sym = dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))
        reinterpret_cast<void (*)(int)>(sym)(n);
}

std::string blas_description() {
    if (void* sym = dlsym(RTLD_DEFAULT, "openblas_get_config"))
        return std::string("OpenBLAS ") + reinterpret_cast<char* (*)()>(sym)();
    return "not OpenBLAS";
}

// Calls work(i) for every i below n: on this thread when threads is 1, else on
// that many threads each taking the next i. Workers keep OpenMP to one thread,
// so a library call never spreads out inside one item.
void for_each_index(size_t n, int threads, const std::function<void(size_t)>& work) {
    if (threads <= 1) {
        for (size_t i = 0; i < n; i++) work(i);
        return;
    }
    std::atomic<size_t> cursor{0};
    std::vector<std::thread> crew;
    crew.reserve(threads);
    for (int t = 0; t < threads; t++)
        crew.emplace_back([&] {
            omp_set_num_threads(1);
            for (size_t i = cursor.fetch_add(1); i < n; i = cursor.fetch_add(1)) work(i);
        });
    for (auto& worker : crew) worker.join();
}

// ============================================================================
// Engines.

// Named integer parameters, printed in "params" in this order.
using Knobs = std::vector<std::pair<std::string, long>>;

class Engine {
  public:
    virtual ~Engine() = default;

    const Knobs& build_knobs() const { return build_knobs_; }
    const std::vector<Knobs>& search_settings() const { return search_settings_; }

    virtual void build(const Dataset& d, int threads) = 0;
    virtual size_t index_bytes() = 0;               // the serialized index
    virtual void select(const Knobs& setting, size_t k) = 0;
    // Writes k ids for one query, -1 where the engine found fewer.
    virtual void query(const float* q, size_t k, int64_t* ids) const = 0;

  protected:
    // One setting per value of a single search parameter.
    void sweep(const std::string& name, const std::vector<long>& values) {
        for (long v : values) search_settings_.push_back({{name, v}});
    }

    Knobs build_knobs_;
    std::vector<Knobs> search_settings_;
};

constexpr const char* kEfList = "10,16,24,32,48,64,96,128,256";
constexpr const char* kProbeList = "1,2,4,8,16,32,64";

class HnswlibEngine : public Engine {
  public:
    explicit HnswlibEngine(Flags& f) {
        build_knobs_ = {{"M", f.count("M", 16)}, {"efc", f.count("efc", 200)}};
        sweep("ef", f.counts("ef", kEfList));
    }

    void build(const Dataset& d, int threads) override {
        if (d.metric == "l2")
            space_.reset(new hnswlib::L2Space(d.dim()));
        else
            space_.reset(new hnswlib::InnerProductSpace(d.dim()));
        // hnswlib's default seed (100) draws the levels.
        graph_.reset(new hnswlib::HierarchicalNSW<float>(space_.get(), d.base.n, size_t(build_knobs_[0].second),
                                                         size_t(build_knobs_[1].second)));
        for_each_index(d.base.n, threads, [&](size_t i) { graph_->addPoint(d.base[i], hnswlib::labeltype(i)); });
    }

    // The size of the file saveIndex writes.
    size_t index_bytes() override {
        std::string path = (std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp");
        path += "/annpeer-weft-XXXXXX";
        int fd = mkstemp(&path[0]);
        if (fd < 0) throw Failure("cannot make a temporary file: " + std::string(std::strerror(errno)));
        close(fd);
        graph_->saveIndex(path);
        std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
        long size = -1;
        if (f && std::fseek(f.get(), 0, SEEK_END) == 0) size = std::ftell(f.get());
        f.reset();
        std::remove(path.c_str());
        if (size < 0) throw Failure("cannot measure the saved hnswlib index");
        return size_t(size);
    }

    void select(const Knobs& setting, size_t) override { graph_->setEf(size_t(setting[0].second)); }

    void query(const float* q, size_t k, int64_t* ids) const override {
        auto found = graph_->searchKnn(q, k);  // a max-heap: farthest on top
        size_t n = found.size();
        for (size_t i = n; i < k; i++) ids[i] = -1;
        for (; !found.empty(); found.pop()) ids[--n] = int64_t(found.top().second);
    }

  private:
    std::unique_ptr<hnswlib::SpaceInterface<float>> space_;
    std::unique_ptr<hnswlib::HierarchicalNSW<float>> graph_;
};

// faiss::write_index into nothing, counting the bytes.
struct CountingWriter : faiss::IOWriter {
    size_t total = 0;
    size_t operator()(const void*, size_t size, size_t items) override {
        total += size * items;
        return items;
    }
};

class FaissEngine : public Engine {
  public:
    // FAISS parallelises training and adding itself (OpenMP and BLAS, sized
    // by the caller), so the thread count is not used here.
    void build(const Dataset& d, int) override {
        index_->train(idx_t(d.base.n), d.base.cells.data());
        index_->add(idx_t(d.base.n), d.base.cells.data());
        if (!active_) active_ = index_.get();
    }

    size_t index_bytes() override {
        CountingWriter w;
        faiss::write_index(index_.get(), &w);
        return w.total;
    }

    void query(const float* q, size_t k, int64_t* ids) const override {
        std::vector<float> dist(k);
        active_->search(1, q, idx_t(k), dist.data(), ids);
    }

  protected:
    using idx_t = faiss::Index::idx_t;
    static_assert(std::is_same<idx_t, int64_t>::value, "FAISS ids are int64_t");

    static faiss::MetricType metric_of(const Dataset& d) {
        return d.metric == "l2" ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
    }

    std::unique_ptr<faiss::Index> index_;
    faiss::Index* active_ = nullptr;  // what select() chose to search
};

class FaissHnswEngine : public FaissEngine {
  public:
    FaissHnswEngine(Flags& f, const Dataset& d) {
        build_knobs_ = {{"M", f.count("M", 16)}, {"efc", f.count("efc", 200)}};
        sweep("ef", f.counts("ef", kEfList));
        hnsw_ = new faiss::IndexHNSWFlat(int(d.dim()), int(build_knobs_[0].second), metric_of(d));
        hnsw_->hnsw.efConstruction = int(build_knobs_[1].second);
        index_.reset(hnsw_);
    }
    void select(const Knobs& setting, size_t) override { hnsw_->hnsw.efSearch = int(setting[0].second); }

  private:
    faiss::IndexHNSWFlat* hnsw_;
};

class FaissIvfFlatEngine : public FaissEngine {
  public:
    FaissIvfFlatEngine(Flags& f, const Dataset& d) {
        long nlist = f.count("nlist", 1024);
        build_knobs_ = {{"nlist", nlist}};
        sweep("nprobe", f.counts("nprobe", kProbeList));
        auto* coarse = new faiss::IndexFlat(idx_t(d.dim()), metric_of(d));
        ivf_ = new faiss::IndexIVFFlat(coarse, d.dim(), size_t(nlist), metric_of(d));
        ivf_->own_fields = true;
        index_.reset(ivf_);
    }
    void select(const Knobs& setting, size_t) override { ivf_->nprobe = size_t(setting[0].second); }

  private:
    faiss::IndexIVFFlat* ivf_;
};

// IVF-PQ (codes of residuals) whose best R candidates are re-ranked with exact
// distances by an IndexRefineFlat: k_factor = R / k. R = 0 searches the IVF-PQ
// alone and returns its order.
class FaissIvfPqEngine : public FaissEngine {
  public:
    FaissIvfPqEngine(Flags& f, const Dataset& d) {
        const long dim = long(d.dim());
        long nlist = f.count("nlist", 1024);
        long m = f.count("m", dim % 8 == 0 ? dim / 8 : 0);
        long nbits = f.count("nbits", 8);
        if (m == 0 || dim % m != 0) throw Failure("--m (PQ sub-quantizers) must divide the dimension, " + std::to_string(dim));
        build_knobs_ = {{"nlist", nlist}, {"m", m}, {"nbits", nbits}};
        std::vector<long> refines = f.counts("refine", "100");
        for (long nprobe : f.counts("nprobe", kProbeList))
            for (long r : refines) search_settings_.push_back({{"nprobe", nprobe}, {"refine", r}});

        auto* coarse = new faiss::IndexFlat(dim, metric_of(d));
        pq_ = new faiss::IndexIVFPQ(coarse, size_t(dim), size_t(nlist), size_t(m), size_t(nbits), metric_of(d));
        pq_->own_fields = true;
        refined_ = new faiss::IndexRefineFlat(pq_);
        refined_->own_fields = true;
        index_.reset(refined_);
    }
    void select(const Knobs& setting, size_t k) override {
        pq_->nprobe = size_t(setting[0].second);
        const long r = setting[1].second;
        refined_->k_factor = float(r) / float(k);
        active_ = r == 0 ? static_cast<faiss::Index*>(pq_) : refined_;
    }

  private:
    faiss::IndexIVFPQ* pq_;
    faiss::IndexRefineFlat* refined_;
};

std::unique_ptr<Engine> make_engine(const std::string& name, Flags& f, const Dataset& d) {
    if (name == "hnswlib") return std::make_unique<HnswlibEngine>(f);
    if (name == "faiss-hnsw") return std::make_unique<FaissHnswEngine>(f, d);
    if (name == "faiss-ivfflat") return std::make_unique<FaissIvfFlatEngine>(f, d);
    if (name == "faiss-ivfpq") return std::make_unique<FaissIvfPqEngine>(f, d);
    throw Failure("no engine " + name + "; engines: hnswlib, faiss-hnsw, faiss-ivfflat, faiss-ivfpq");
}

// ============================================================================
// Measurement and output.

struct Pass {
    double qps = 0, p50_us = 0, p99_us = 0, recall = 0;
    double on_cpu = 0;  // share of the loop's wall time the search threads ran
};

// One pass over the first nq queries.
Pass measure(const Engine& e, const Dataset& d, size_t nq, size_t k, int threads) {
    std::vector<int64_t> answers(nq * k);
    std::vector<double> took_us(nq);
    const double cpu0 = process_cpu_s();
    const auto t0 = Stopwatch::now();
    for_each_index(nq, threads, [&](size_t qi) {
        const auto started = Stopwatch::now();
        e.query(d.queries[qi], k, &answers[qi * k]);
        took_us[qi] = 1e6 * elapsed_s(started);
    });
    const double wall = elapsed_s(t0);
    const double cpu = process_cpu_s() - cpu0;

    Pass p;
    p.qps = double(nq) / wall;
    p.on_cpu = cpu / (wall * threads);
    double sum = 0;
    for (size_t qi = 0; qi < nq; qi++) sum += d.recall(qi, &answers[qi * k], k);
    p.recall = sum / double(nq);
    std::sort(took_us.begin(), took_us.end());
    auto rank = [&](double frac) { return took_us[std::min(nq - 1, size_t(frac * double(nq)))]; };
    p.p50_us = rank(0.50);
    p.p99_us = rank(0.99);
    return p;
}

std::string knobs_json(const Knobs& first, const Knobs& second) {
    std::string out;
    for (const Knobs* part : {&first, &second})
        for (const auto& kv : *part) {
            out += out.empty() ? "{" : ",";
            out += "\"" + kv.first + "\":" + std::to_string(kv.second);
        }
    return out.empty() ? "{}" : out + "}";
}

int usage() {
    std::fprintf(stderr,
                 "usage: %s ENGINE --data DIR [--k 10] [--build-threads N] [--search-threads 1]\n"
                 "           [--runs 1] [--queries N] [engine options]\n"
                 "engines: hnswlib, faiss-hnsw (--M --efc --ef), faiss-ivfflat (--nlist --nprobe),\n"
                 "         faiss-ivfpq (--nlist --m --nbits --nprobe --refine); see docs/benchmarks.md\n",
                 kProgram);
    return 2;
}

int run(int argc, char** argv) {
    if (argc < 2 || argv[1][0] == '-') return usage();
    const std::string engine_name = argv[1];
    Flags flags(argc, argv, 2);

    const Dataset data = Dataset::load(flags.text("data"));
    const long k = flags.count("k", 10);
    const long build_threads = flags.count("build-threads", long(std::thread::hardware_concurrency()));
    const long search_threads = flags.count("search-threads", 1);
    const long runs = flags.count("runs", 1);
    const size_t nq = std::min<size_t>(data.queries.n, size_t(flags.count("queries", long(data.queries.n))));
    if (k < 1 || size_t(k) > data.gt_k()) throw Failure("--k must be at least 1 and at most the ground truth's " + std::to_string(data.gt_k()));
    if (build_threads < 1 || search_threads < 1 || runs < 1 || nq < 1)
        throw Failure("--build-threads, --search-threads, --runs and --queries must be at least 1");
    std::unique_ptr<Engine> engine = make_engine(engine_name, flags, data);
    flags.reject_unused();

    std::fprintf(stderr, "%s: %s on %s (%zu x %zu, %s), %ld build threads, BLAS: %s\n", kProgram,
                 engine_name.c_str(), data.name.c_str(), data.base.n, data.dim(), data.metric.c_str(),
                 build_threads, blas_description().c_str());

    use_threads(int(build_threads));
    const auto build_start = Stopwatch::now();
    engine->build(data, int(build_threads));
    const double build_s = elapsed_s(build_start);
    const size_t bytes = engine->index_bytes();
    std::fprintf(stderr, "%s: built in %.1fs, %zu bytes serialized\n", kProgram, build_s, bytes);

    use_threads(1);  // one query at a time per search thread
    for (const Knobs& setting : engine->search_settings()) {
        engine->select(setting, size_t(k));
        std::vector<Pass> passes;
        for (long r = 0; r < runs; r++) passes.push_back(measure(*engine, data, nq, size_t(k), int(search_threads)));
        std::sort(passes.begin(), passes.end(), [](const Pass& a, const Pass& b) { return a.qps < b.qps; });
        const Pass& median = passes[passes.size() / 2];

        std::fprintf(stderr, "%s: %s recall %.4f, %.0f QPS, search threads on a CPU %.0f%% of the time%s\n",
                     kProgram, knobs_json({}, setting).c_str(), median.recall, median.qps, 100 * median.on_cpu,
                     median.on_cpu < 0.9 ? ": the machine is busy, QPS is low" : "");
        std::printf(
            "{\"engine\":\"%s\",\"dataset\":\"%s\",\"params\":%s,\"k\":%ld,\"recall\":%.4f,\"qps\":%.1f,"
            "\"p50_us\":%.1f,\"p99_us\":%.1f,\"build_s\":%.2f,\"build_threads\":%ld,\"search_threads\":%ld,"
            "\"index_bytes\":%zu,\"bytes_per_vector\":%.1f}\n",
            engine_name.c_str(), data.name.c_str(), knobs_json(engine->build_knobs(), setting).c_str(), k,
            median.recall, median.qps, median.p50_us, median.p99_us, build_s, build_threads, search_threads, bytes,
            double(bytes) / double(data.base.n));
        std::fflush(stdout);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    // libgomp reads OMP_WAIT_POLICY once, when it is loaded. Its default lets
    // idle OpenMP threads spin, which on a small shared machine slowed FAISS's
    // training several times over; so unless the caller chose a policy, start
    // again with passive waiting.
    if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
        setenv("OMP_WAIT_POLICY", "passive", 1);
        execv("/proc/self/exe", argv);
        // exec failed: carry on with the default policy.
    }
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", kProgram, e.what());
        return 1;
    }
}
