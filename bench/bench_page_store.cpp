// The page store (snapshot/) against raw lz4, on one corpus: the live memory of a python3 that
// imported a large part of the standard library (every readable mapping, read through
// /proc/PID/mem at benchmark start, one region per mapping) plus an equal amount of zero pages.
//
//   PageStoreWrite  write_page_store into a fresh directory (all cores), manifest included
//   PageStoreRead   PageStoreReader::read_all of that store into memory (all cores, io_uring)
//   Lz4Compress     LZ4_compress_default on the same bytes, one core, in 64 KiB blocks (the
//                   lz4 frame format's default block size)
//   Lz4Decompress   LZ4_decompress_safe of those blocks, one core
// bytes_per_second counts guest-memory bytes (corpus size) for all four. PageStoreWrite reports
// store_ratio = stored bytes / non-zero input bytes. PageStoreWriteChunk/N and
// PageStoreReadChunk/N sweep pages_per_chunk. PageStoreRepack/N re-encodes an lz4 store as a
// restore's recorded working set leaves it (repack.h: the working set in lz4, the rest zstd
// with a trained dictionary), with every Nth chunk as the working set (0: none), and reports
// its store_ratio; PageStoreReadWorkingSet/0 and /1 read those working-set chunks from the lz4
// store and from the repacked one, chunk by chunk as a restore's prefetch does. Snapshots go to $THAW_BENCH_DIR (default /tmp).
#include <benchmark/benchmark.h>
#include <lz4.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/mapping.h"
#include "snapshot/page_store_reader.h"
#include "snapshot/page_store_writer.h"
#include "snapshot/process_memory.h"
#include "snapshot/repack.h"
#include "snapshot/zero_page.h"

namespace {

namespace fs = std::filesystem;
using namespace thaw::snapshot;
using thaw::Mapping;

constexpr size_t kLz4Block = 64 * 1024;

const char* kPythonScript =
    "import sys, json, re, os, collections, asyncio, email, email.mime.text, http.client, http.server, "
    "xml.etree.ElementTree, xml.dom.minidom, sqlite3, decimal, unittest, argparse, logging, logging.handlers, "
    "subprocess, threading, multiprocessing, ssl, hashlib, urllib.request, zipfile, tarfile, csv, datetime, "
    "pathlib, typing, dataclasses, inspect, ast, pickle, socket, shutil, tempfile, difflib, textwrap, statistics, "
    "fractions, random, uuid, base64, gzip, bz2, lzma, html.parser, configparser, concurrent.futures, ctypes, pdb, "
    "doctest, pydoc, smtplib, imaplib, ftplib, mailbox, calendar, locale, gettext, plistlib, queue, sched, "
    "selectors, string, struct, codecs, unicodedata, tokenize, dis, trace, traceback, timeit, cProfile, pstats, "
    "enum, functools, itertools, operator, copy, pprint, heapq, bisect, array, weakref, types, contextlib, abc, "
    "numbers, math, cmath, glob, fnmatch, filecmp, zlib, hmac, secrets, io, signal, mmap, getopt, platform, "
    "wsgiref.simple_server, xmlrpc.client, ipaddress, shlex, webbrowser, cgi, "
    "importlib.metadata, sysconfig, venv, zipapp, compileall\n"
    "print('ready', flush=True)\n"
    "sys.stdin.read()\n";

// The corpus: the python process's regions plus one zero region of the same size.
struct Corpus {
  ProcessImage image;
  Mapping zeros;
  std::vector<GuestRegion> regions;
  uint64_t bytes = 0;
  uint64_t nonzero_bytes = 0;
  Mapping flat;  // the same bytes back to back, for raw lz4
};

Corpus load_corpus() {
  int to_child[2], from_child[2];
  if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) thaw::throw_errno("pipe");
  pid_t pid = ::fork();
  if (pid < 0) thaw::throw_errno("fork");
  if (pid == 0) {
    ::dup2(to_child[0], 0);
    ::dup2(from_child[1], 1);
    ::close(to_child[1]);
    ::close(from_child[0]);
    ::execlp("python3", "python3", "-c", kPythonScript, static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  char buf[16] = {};
  ssize_t n = ::read(from_child[0], buf, sizeof buf - 1);
  Corpus c;
  if (n <= 0 || std::strncmp(buf, "ready", 5) != 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    throw thaw::Error("bench: python3 corpus process did not start");
  }
  ::kill(pid, SIGSTOP);
  c.image = read_process_memory(pid);
  ::kill(pid, SIGKILL);
  ::close(to_child[1]);
  ::close(from_child[0]);
  ::waitpid(pid, nullptr, 0);

  uint64_t process_bytes = 0;
  for (const auto& r : c.image.regions) process_bytes += r.bytes.size();
  c.regions = c.image.regions;
  c.zeros = Mapping::anonymous(process_bytes, "bench zero region");
  std::memset(c.zeros.data(), 0, c.zeros.size());  // fault the pages in: real zero-filled memory
  uint64_t top = 0;
  for (const auto& r : c.regions) top = std::max(top, r.guest_addr + r.bytes.size());
  c.regions.push_back({(top + (1ull << 30)) & ~((1ull << 30) - 1), c.zeros.bytes()});
  c.bytes = 2 * process_bytes;
  c.flat = Mapping::anonymous(c.bytes, "bench flat corpus");
  uint64_t at = 0;
  for (const auto& r : c.regions) {
    std::memcpy(c.flat.data() + at, r.bytes.data(), r.bytes.size());
    at += r.bytes.size();
  }
  for (uint64_t off = 0; off < c.bytes; off += 4096)
    if (!is_zero_page(c.flat.data() + off)) c.nonzero_bytes += 4096;
  std::fprintf(stderr, "corpus: python3 pid %d, %zu mappings, %.1f MiB + %.1f MiB zeros (%.1f MiB non-zero)\n", pid,
               c.image.regions.size(), process_bytes / 1048576.0, process_bytes / 1048576.0,
               c.nonzero_bytes / 1048576.0);
  return c;
}

Corpus& corpus() {
  static Corpus c = load_corpus();
  return c;
}

fs::path bench_dir() {
  const char* env = std::getenv("THAW_BENCH_DIR");
  fs::path base = env && *env ? env : "/tmp";
  return base / ("thaw-bench-page-store-" + std::to_string(::getpid()));
}

void write_bench(benchmark::State& state, uint32_t ppc, Codec cold = Codec::kLz4, int zstd_level = 3) {
  Corpus& c = corpus();
  fs::path dir = bench_dir();
  fs::remove_all(dir);
  WriteOptions opt;
  opt.pages_per_chunk = ppc;
  opt.cold_codec = cold;
  opt.zstd_level = zstd_level;
  WriteStats stats;
  int i = 0;
  for (auto _ : state) {
    fs::path snap = dir / std::to_string(i++);  // not "w" + ...: GCC 12 -O3 warns (-Wrestrict) on that
    stats = write_page_store(snap, c.regions, opt);
    state.PauseTiming();
    fs::remove_all(snap);
    state.ResumeTiming();
  }
  fs::remove_all(dir);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * c.bytes));
  state.counters["store_ratio"] = static_cast<double>(stats.stored_bytes) / static_cast<double>(c.nonzero_bytes);
  state.counters["pages_per_chunk"] = ppc;
}

void read_bench(benchmark::State& state, uint32_t ppc) {
  Corpus& c = corpus();
  fs::path dir = bench_dir();
  fs::remove_all(dir);
  WriteOptions opt;
  opt.pages_per_chunk = ppc;
  write_page_store(dir / "r", c.regions, opt);
  auto reader = PageStoreReader::open(dir / "r");
  Mapping out = Mapping::anonymous(reader->page_count() * reader->page_size(), "bench read buffer");
  std::memset(out.data(), 1, out.size());
  for (auto _ : state) reader->read_all(out.bytes());
  reader.reset();
  fs::remove_all(dir);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * c.bytes));
  state.counters["pages_per_chunk"] = ppc;
}

void PageStoreWrite(benchmark::State& state) { write_bench(state, WriteOptions{}.pages_per_chunk); }
void PageStoreRead(benchmark::State& state) { read_bench(state, WriteOptions{}.pages_per_chunk); }
// Every chunk zstd at level N: the store with no working set on the lz4 side.
void PageStoreWriteZstd(benchmark::State& state) {
  write_bench(state, WriteOptions{}.pages_per_chunk, Codec::kZstd, static_cast<int>(state.range(0)));
}
// Every `every`th chunk with data, as a working set (none for 0).
std::vector<uint64_t> corpus_working_set(const fs::path& snap, int every) {
  std::vector<uint64_t> ws;
  if (every <= 0) return ws;
  auto r = PageStoreReader::open(snap);
  uint64_t with_data = 0;
  for (uint64_t c = 0; c < r->manifest().chunk_count; ++c)
    if (r->chunk_record(c).encoding != kEncodingNone && with_data++ % static_cast<uint64_t>(every) == 0)
      ws.push_back(c);
  return ws;
}

void PageStoreRepack(benchmark::State& state) {
  Corpus& c = corpus();
  fs::path dir = bench_dir();
  fs::remove_all(dir);
  RepackStats stats;
  int i = 0;
  for (auto _ : state) {
    state.PauseTiming();
    fs::path snap = dir / std::to_string(i++);
    write_page_store(snap, c.regions);
    auto ws = corpus_working_set(snap, static_cast<int>(state.range(0)));
    state.ResumeTiming();
    stats = repack_page_store(snap, ws);
    state.PauseTiming();
    fs::remove_all(snap);
    state.ResumeTiming();
  }
  fs::remove_all(dir);
  state.counters["store_ratio"] = static_cast<double>(stats.bytes_after) / static_cast<double>(c.nonzero_bytes);
  state.counters["lz4_store_ratio"] = static_cast<double>(stats.bytes_before) / static_cast<double>(c.nonzero_bytes);
  state.counters["hot_chunks"] = static_cast<double>(stats.hot_chunks);
  state.counters["cold_chunks"] = static_cast<double>(stats.cold_chunks);
  state.counters["dictionary_bytes"] = static_cast<double>(stats.dictionary_bytes);
}

void PageStoreReadWorkingSet(benchmark::State& state) {
  Corpus& c = corpus();
  fs::path dir = bench_dir();
  fs::remove_all(dir);
  write_page_store(dir / "r", c.regions);
  auto ws = corpus_working_set(dir / "r", 10);
  if (state.range(0)) repack_page_store(dir / "r", ws);
  auto reader = PageStoreReader::open(dir / "r");
  std::vector<std::byte> out(static_cast<size_t>(reader->pages_per_chunk()) * reader->page_size());
  uint64_t bytes = 0;
  for (auto _ : state) {
    for (uint64_t chunk : ws) {
      uint64_t first = chunk * reader->pages_per_chunk();
      uint64_t pages = std::min<uint64_t>(reader->pages_per_chunk(), reader->page_count() - first);
      reader->read_chunk(chunk, std::span(out).first(pages * reader->page_size()));
      bytes += pages * reader->page_size();
    }
  }
  reader.reset();
  fs::remove_all(dir);
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["chunks"] = static_cast<double>(ws.size());
}

void PageStoreWriteChunk(benchmark::State& state) { write_bench(state, static_cast<uint32_t>(state.range(0))); }
void PageStoreReadChunk(benchmark::State& state) { read_bench(state, static_cast<uint32_t>(state.range(0))); }

void Lz4Compress(benchmark::State& state) {
  Corpus& c = corpus();
  std::vector<char> dst(static_cast<size_t>(LZ4_compressBound(kLz4Block)));
  uint64_t compressed = 0;
  for (auto _ : state) {
    compressed = 0;
    for (uint64_t off = 0; off < c.bytes; off += kLz4Block) {
      int len = static_cast<int>(std::min<uint64_t>(kLz4Block, c.bytes - off));
      int n = LZ4_compress_default(reinterpret_cast<const char*>(c.flat.data() + off), dst.data(), len,
                                   static_cast<int>(dst.size()));
      compressed += static_cast<uint64_t>(n);
    }
    benchmark::DoNotOptimize(dst.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * c.bytes));
  state.counters["ratio_of_nonzero"] = static_cast<double>(compressed) / static_cast<double>(c.nonzero_bytes);
}

void Lz4Decompress(benchmark::State& state) {
  Corpus& c = corpus();
  // Compress once into blocks, then time decompression of all of them back into the flat buffer's size.
  std::vector<char> packed;
  std::vector<std::pair<size_t, int>> blocks;  // offset in packed, compressed length
  std::vector<char> tmp(static_cast<size_t>(LZ4_compressBound(kLz4Block)));
  for (uint64_t off = 0; off < c.bytes; off += kLz4Block) {
    int len = static_cast<int>(std::min<uint64_t>(kLz4Block, c.bytes - off));
    int n = LZ4_compress_default(reinterpret_cast<const char*>(c.flat.data() + off), tmp.data(), len,
                                 static_cast<int>(tmp.size()));
    blocks.push_back({packed.size(), n});
    packed.insert(packed.end(), tmp.begin(), tmp.begin() + n);
  }
  Mapping out = Mapping::anonymous(c.bytes, "bench decompress buffer");
  std::memset(out.data(), 1, out.size());
  for (auto _ : state) {
    uint64_t off = 0;
    for (auto [at, n] : blocks) {
      int len = static_cast<int>(std::min<uint64_t>(kLz4Block, c.bytes - off));
      int got = LZ4_decompress_safe(packed.data() + at, reinterpret_cast<char*>(out.data() + off), n, len);
      if (got != len) state.SkipWithError("lz4 decompress failed");
      off += kLz4Block;
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * c.bytes));
}

}  // namespace

BENCHMARK(PageStoreWrite)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(PageStoreRead)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(PageStoreWriteZstd)->Arg(1)->Arg(3)->Arg(6)->Arg(9)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(PageStoreRepack)->Arg(0)->Arg(10)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);
BENCHMARK(PageStoreReadWorkingSet)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(Lz4Compress)->Unit(benchmark::kMillisecond);
BENCHMARK(Lz4Decompress)->Unit(benchmark::kMillisecond);
BENCHMARK(PageStoreWriteChunk)->Arg(4)->Arg(8)->Arg(16)->Arg(32)->Arg(64)->Arg(128)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(PageStoreReadChunk)->Arg(4)->Arg(8)->Arg(16)->Arg(32)->Arg(64)->Arg(128)->Unit(benchmark::kMillisecond)->UseRealTime();
