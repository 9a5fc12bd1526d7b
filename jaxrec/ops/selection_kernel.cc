// Exact masked top-K slate selection for XLA:CPU, registered with JAX through the XLA FFI.
//
// For every row r of scores f32[R, M] and mask bool[R, M] it writes the K item indices that
// lax.top_k(where(mask, scores, -inf), K) returns: the same items in the same order, including
// ties (the lower index first), -0.0 below 0.0, positive NaN above +inf, negative NaN below -inf.
// Scores are compared as the integer keys XLA's TopK comparator uses (see OrderKey), so any bit
// pattern orders exactly as there.
//
// Per row (K <= 32), two passes over a row that stays in L1: the first takes the maximum key of
// each of 32 lanes (item index mod 32), whose K-th largest is a floor under the row's K-th best
// key; the second offers, in index order, only the items at or above that floor (then above the
// buffer's smallest key) to a sorted K-buffer, so a handful of items are ever inserted. Both
// passes run 8 lanes at a time with AVX2 when the CPU has it. Larger K uses std::partial_sort
// with the same order. Rows are shared among XLA's intra-op threads by an atomic chunk counter.

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <numeric>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define JAXREC_X86 1
#endif

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

// The order of XLA's TopK comparator: a float's bits as int32, with the non-sign bits of
// negative values flipped so that a signed integer comparison orders all floats (NaNs by sign).
inline int32_t OrderKey(float value) {
  int32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits ^ ((bits >> 31) & 0x7fffffff);
}

const int32_t kMaskedKey = OrderKey(-__builtin_huge_valf());

// Above this K a row is selected with std::partial_sort; up to it, by the two passes below.
constexpr int64_t kTwoPassMaxK = 32;
// Pass one keeps the maximum key of each residue class of the item index modulo kLanes.
constexpr int64_t kLanes = 32;
static_assert(kLanes >= kTwoPassMaxK, "the floor needs at least K disjoint lanes");

// Sorted buffer of the best K (key descending, index ascending) of the items offered so far.
struct TopBuffer {
  int32_t* keys;
  int32_t* index;
  int64_t k;
  int32_t floor;  // no item with a smaller key can be among the row's top K
  int64_t size = 0;

  // Whether an item with this key may belong to the top K, given what the buffer holds.
  bool Admits(int32_t key) const { return size < k ? key >= floor : key > keys[k - 1]; }

  // Items arrive in increasing index, so a new item goes after every equal key: an equal key
  // never displaces the lower index it ties with.
  void Offer(int32_t key, int32_t item) {
    int64_t pos;
    if (size < k) {
      pos = size++;
    } else if (key > keys[k - 1]) {
      pos = k - 1;
    } else {
      return;
    }
    while (pos > 0 && keys[pos - 1] < key) {
      keys[pos] = keys[pos - 1];
      index[pos] = index[pos - 1];
      --pos;
    }
    keys[pos] = key;
    index[pos] = item;
  }
};

inline int32_t MaskedKey(const float* scores, const bool* mask, int64_t j) {
  return mask[j] ? OrderKey(scores[j]) : kMaskedKey;
}

#ifdef JAXREC_X86
// OrderKey of eight items, kMaskedKey where the mask is off.
__attribute__((target("avx2"))) inline __m256i Keys8(const float* scores, const bool* mask,
                                                     int64_t j) {
  __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(scores + j));
  __m256i key = _mm256_xor_si256(
      bits, _mm256_and_si256(_mm256_srai_epi32(bits, 31), _mm256_set1_epi32(0x7fffffff)));
  int64_t mask_bytes;
  std::memcpy(&mask_bytes, mask + j, sizeof mask_bytes);
  __m256i allowed = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(mask_bytes));
  return _mm256_blendv_epi8(_mm256_set1_epi32(kMaskedKey), key,
                            _mm256_cmpgt_epi32(allowed, _mm256_setzero_si256()));
}

// Lane maxima over the whole blocks of kLanes items, and each block's maxima folded to eight
// lanes into block_max (8 keys per block); returns where the scalar tail starts.
__attribute__((target("avx2"))) int64_t LaneMaxAvx2(const float* scores, const bool* mask,
                                                    int64_t m, int32_t* lane_max,
                                                    int32_t* block_max) {
  __m256i acc[4];
  for (auto& a : acc) a = _mm256_set1_epi32(INT32_MIN);
  int64_t j = 0;
  for (; j + kLanes <= m; j += kLanes) {
    __m256i keys[4];
    for (int v = 0; v < 4; ++v) {
      keys[v] = Keys8(scores, mask, j + 8 * v);
      acc[v] = _mm256_max_epi32(acc[v], keys[v]);
    }
    __m256i block = _mm256_max_epi32(_mm256_max_epi32(keys[0], keys[1]),
                                     _mm256_max_epi32(keys[2], keys[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(block_max + j / 4), block);
  }
  for (int v = 0; v < 4; ++v)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(lane_max + 8 * v), acc[v]);
  return j;
}

// Offers the items of the set bits of `lanes` (bit i = item j + i), lowest index first.
inline void OfferLanes(const float* scores, const bool* mask, int64_t j, uint32_t lanes,
                       TopBuffer& top) {
  while (lanes) {
    int lane = __builtin_ctz(lanes);
    lanes &= lanes - 1;
    int32_t key = MaskedKey(scores, mask, j + lane);
    // The buffer may have filled or its threshold risen since the lanes were compared.
    if (top.Admits(key)) top.Offer(key, static_cast<int32_t>(j + lane));
  }
}

// Bitmask of the eight lanes the buffer admits (the vector form of TopBuffer::Admits).
__attribute__((target("avx2"))) inline uint32_t Admitted8(__m256i keys, const TopBuffer& top) {
  __m256i hit = top.size < top.k
                    ? _mm256_xor_si256(  // key >= floor as not (floor > key)
                          _mm256_cmpgt_epi32(_mm256_set1_epi32(top.floor), keys),
                          _mm256_set1_epi32(-1))
                    : _mm256_cmpgt_epi32(keys, _mm256_set1_epi32(top.keys[top.k - 1]));
  return static_cast<uint32_t>(_mm256_movemask_ps(_mm256_castsi256_ps(hit)));
}

// Pass two over the whole blocks of 32 items; returns where the scalar tail starts. A block
// whose maximum the buffer does not admit is skipped on one comparison (Admits is monotone in
// the key), and almost every block is such a block.
__attribute__((target("avx2"))) int64_t ScanAvx2(const float* scores, const bool* mask,
                                                 int64_t m, const int32_t* block_max,
                                                 TopBuffer& top) {
  int64_t j = 0;
  for (; j + kLanes <= m; j += kLanes) {
    __m256i block = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block_max + j / 4));
    if (!Admitted8(block, top)) continue;
    uint32_t lanes = 0;
    for (int v = 0; v < 4; ++v) lanes |= Admitted8(Keys8(scores, mask, j + 8 * v), top) << (8 * v);
    OfferLanes(scores, mask, j, lanes, top);
  }
  return j;
}

// Evaluated while the library loads, possibly before libgcc's own CPU probe: run it first.
const bool kHaveAvx2 = (__builtin_cpu_init(), __builtin_cpu_supports("avx2"));
#endif

// Pass one: at least K distinct items (one per lane) reach the K-th largest lane maximum, so
// it is a floor under the row's K-th best key and no item below it needs to be offered.
int32_t CandidateFloor(const float* scores, const bool* mask, int64_t m, int64_t k,
                       int32_t* block_max) {
  int32_t lane_max[kLanes];
  std::fill(lane_max, lane_max + kLanes, INT32_MIN);
  int64_t j = 0;
#ifdef JAXREC_X86
  if (kHaveAvx2) j = LaneMaxAvx2(scores, mask, m, lane_max, block_max);
#endif
  for (; j < m; ++j) {
    int32_t& lane = lane_max[j % kLanes];
    lane = std::max(lane, MaskedKey(scores, mask, j));
  }
  // Lanes left empty (m < kLanes) hold INT32_MIN and sort last; at least K lanes are not empty.
  std::nth_element(lane_max, lane_max + k - 1, lane_max + kLanes, std::greater<int32_t>());
  return lane_max[k - 1];
}

// block_max: scratch for m / 4 keys.
void SelectRowTwoPass(const float* scores, const bool* mask, int64_t m, int64_t k, int32_t* out,
                      int32_t* key_scratch, int32_t* block_max) {
  TopBuffer top{key_scratch, out, k, CandidateFloor(scores, mask, m, k, block_max)};
  int64_t j = 0;
#ifdef JAXREC_X86
  if (kHaveAvx2) j = ScanAvx2(scores, mask, m, block_max, top);
#endif
  for (; j < m; ++j) {
    int32_t key = MaskedKey(scores, mask, j);
    if (top.Admits(key)) top.Offer(key, static_cast<int32_t>(j));
  }
}

void SelectRowPartialSort(const float* scores, const bool* mask, int64_t m, int64_t k,
                          int32_t* out, std::vector<int32_t>& keys, std::vector<int32_t>& order) {
  keys.resize(m);
  order.resize(m);
  for (int64_t j = 0; j < m; ++j) keys[j] = MaskedKey(scores, mask, j);
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t b) {
    return keys[a] != keys[b] ? keys[a] > keys[b] : a < b;
  });
  std::copy(order.begin(), order.begin() + k, out);
}

void SelectRows(const float* scores, const bool* mask, int64_t m, int64_t k, int32_t* out,
                int64_t row_begin, int64_t row_end) {
  if (k <= kTwoPassMaxK) {
    int32_t key_scratch[kTwoPassMaxK];
    std::vector<int32_t> block_max(m / 4 + 8);
    for (int64_t r = row_begin; r < row_end; ++r)
      SelectRowTwoPass(scores + r * m, mask + r * m, m, k, out + r * k, key_scratch,
                       block_max.data());
  } else {
    std::vector<int32_t> keys, order;
    for (int64_t r = row_begin; r < row_end; ++r)
      SelectRowPartialSort(scores + r * m, mask + r * m, m, k, out + r * k, keys, order);
  }
}

// Rows are claimed chunk by chunk from a shared counter by the calling thread and by helper
// tasks on XLA's pool. The caller never waits for a task that has not started (it takes the
// chunks itself), so a busy or tiny pool cannot deadlock it; it waits only for chunks already
// being worked on.
struct RowJob {
  const float* scores;
  const bool* mask;
  int64_t m, k, rows, chunk;
  int32_t* out;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};
  std::mutex mutex;
  std::condition_variable finished;

  void Work() {
    int64_t n_chunks = (rows + chunk - 1) / chunk;
    for (int64_t c; (c = next.fetch_add(1)) < n_chunks;) {
      SelectRows(scores, mask, m, k, out, c * chunk, std::min(rows, (c + 1) * chunk));
      if (done.fetch_add(1) + 1 == n_chunks) {
        std::lock_guard<std::mutex> lock(mutex);
        finished.notify_all();
      }
    }
  }

  void Wait() {
    int64_t n_chunks = (rows + chunk - 1) / chunk;
    std::unique_lock<std::mutex> lock(mutex);
    finished.wait(lock, [&] { return done.load() == n_chunks; });
  }
};

ffi::Error SelectTopK(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> scores,
                      ffi::Buffer<ffi::PRED> mask, ffi::ResultBuffer<ffi::S32> out) {
  auto dims = scores.dimensions();
  if (dims.size() < 1) return ffi::Error::InvalidArgument("scores must have rank >= 1");
  if (mask.element_count() != scores.element_count())
    return ffi::Error::InvalidArgument("mask and scores must have the same shape");
  const int64_t m = dims.back();
  const int64_t rows = m ? static_cast<int64_t>(scores.element_count()) / m : 0;
  const int64_t k = out->dimensions().back();
  if (k > m) return ffi::Error::InvalidArgument("slate size exceeds the number of items");
  if (rows == 0 || k == 0) return ffi::Error::Success();

  auto job = std::make_shared<RowJob>();
  job->scores = scores.typed_data();
  job->mask = mask.typed_data();
  job->m = m;
  job->k = k;
  job->rows = rows;
  job->out = out->typed_data();
  const int64_t threads = std::max<int64_t>(1, pool.num_threads());
  // About four chunks per thread balances uneven progress without much counter traffic.
  job->chunk = std::max<int64_t>(1, rows / (4 * threads));
  const int64_t n_chunks = (rows + job->chunk - 1) / job->chunk;
  for (int64_t t = 1; t < std::min(threads, n_chunks); ++t) pool.Schedule([job] { job->Work(); });
  job->Work();
  job->Wait();
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxrecSelectTopK, SelectTopK,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::PRED>>()
                                  .Ret<ffi::Buffer<ffi::S32>>());

// The Python module: registrations() -> {target name: capsule holding the handler}.
static PyObject* Registrations(PyObject*, PyObject*) {
  PyObject* dict = PyDict_New();
  if (dict == nullptr) return nullptr;
  PyObject* capsule = PyCapsule_New(reinterpret_cast<void*>(JaxrecSelectTopK), nullptr, nullptr);
  if (capsule == nullptr || PyDict_SetItemString(dict, "jaxrec_select_top_k", capsule) < 0) {
    Py_XDECREF(capsule);
    Py_DECREF(dict);
    return nullptr;
  }
  Py_DECREF(capsule);
  return dict;
}

static PyMethodDef kMethods[] = {
    {"registrations", Registrations, METH_NOARGS,
     "Map each FFI target name to a PyCapsule holding its handler."},
    {nullptr, nullptr, 0, nullptr},
};

static PyModuleDef kModule = {
    PyModuleDef_HEAD_INIT, "_selection_kernel",
    "Exact masked top-K selection for XLA:CPU (jaxrec.ops.selection_kernel.cc).", -1, kMethods,
};

PyMODINIT_FUNC PyInit__selection_kernel(void) { return PyModule_Create(&kModule); }
