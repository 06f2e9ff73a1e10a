// Pooled, reference-counted I/O buffers: the unit of data every read and
// write of the completion-port framework carries.
//
// A completion-based server hands a buffer to the kernel and gets it back
// when the operation completes, possibly on another thread, possibly after
// the code that issued it has moved on. Reference counting lets several
// owners (the server's code, an in-flight write, a queued read) hold one
// buffer without anyone tracking who frees it: the last release returns it
// to its allocator, which keeps up to `max_pooled` of them for reuse so a
// busy server stops calling the heap allocator at all.
//
// Platform-neutral: the same classes serve the io_uring and IOCP backends.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

namespace cpf {

// The same types as cs::Byte / cs::ByteView, so the sans-I/O sessions of
// common/ read and write framework buffers directly.
using Byte = std::uint8_t;
using ByteView = std::span<const Byte>;

class BufferAllocator;
class BufferPtr;

// A fixed-capacity run of bytes: `data()` holds `size()` bytes of payload,
// followed by `space()`, the free room a read fills. Created only by a
// BufferAllocator; handled only through BufferPtr.
//
// Thread-safety: the reference count is atomic, so BufferPtr copies may be
// made and dropped on any thread. The bytes and size are NOT synchronised:
// one owner at a time changes them. While a read or write is in flight the
// framework owns the contents; the server must not touch them until the
// buffer comes back in a notification.
class Buffer {
 public:
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  Byte* data() noexcept { return storage_.get() + begin_; }
  const Byte* data() const noexcept { return storage_.get() + begin_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  ByteView view() const noexcept { return {data(), size_}; }

  // Total bytes this buffer can hold (the allocator's buffer_size).
  std::size_t capacity() const noexcept { return capacity_; }

  // The free room after the payload. Moves the payload to the front first if
  // consume() left a gap there, so the room is as large as it can be.
  std::span<Byte> space() noexcept;

  // Marks `n` bytes written into space() as payload. n <= space().size().
  void commit(std::size_t n);

  // Copies as much of `bytes` as fits after the payload; returns how many.
  std::size_t append(ByteView bytes);

  // Drops the first `n` payload bytes (a processed message). n <= size().
  void consume(std::size_t n);

  // Drops the whole payload.
  void clear() noexcept;

  // Splits off the first `n` payload bytes (0 < n <= size()) into a new
  // buffer from the same allocator and drops them from this one, so a read
  // that holds one whole message plus the start of the next can send the
  // message on (write takes the new buffer) and keep reading into this one.
  // Copies the n bytes: the two halves then have independent lifetimes and
  // each can grow. Throws std::bad_alloc only if the heap is exhausted.
  BufferPtr split(std::size_t n);

  BufferAllocator& allocator() const noexcept { return *allocator_; }

  // For tests and diagnostics: how many BufferPtr currently own it.
  std::uint32_t use_count() const noexcept { return references_.load(std::memory_order_acquire); }

 private:
  friend class BufferAllocator;
  friend class BufferPtr;

  Buffer(BufferAllocator* allocator, std::size_t capacity);
  void add_reference() noexcept { references_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept;  // the last release returns it to the allocator

  BufferAllocator* allocator_;
  std::unique_ptr<Byte[]> storage_;
  std::size_t capacity_;
  std::size_t begin_ = 0;  // payload starts here (consume() advances it)
  std::size_t size_ = 0;
  std::atomic<std::uint32_t> references_{0};
};

// An owning, reference-counted handle to a Buffer, like std::shared_ptr but
// intrusive (one allocation per buffer, and the pool reuses it whole).
// Copying adds a reference; destroying the last copy recycles the buffer.
// Thread-safety: as for std::shared_ptr: distinct BufferPtr objects may be
// used on different threads; one BufferPtr object must not be written by
// two threads at once.
class BufferPtr {
 public:
  BufferPtr() noexcept = default;
  BufferPtr(const BufferPtr& other) noexcept : buffer_(other.buffer_) {
    if (buffer_) buffer_->add_reference();
  }
  BufferPtr(BufferPtr&& other) noexcept : buffer_(other.buffer_) { other.buffer_ = nullptr; }
  BufferPtr& operator=(BufferPtr other) noexcept {
    std::swap(buffer_, other.buffer_);
    return *this;
  }
  ~BufferPtr() { reset(); }

  void reset() noexcept {
    if (buffer_) buffer_->release();
    buffer_ = nullptr;
  }
  Buffer* get() const noexcept { return buffer_; }
  Buffer& operator*() const noexcept { return *buffer_; }
  Buffer* operator->() const noexcept { return buffer_; }
  explicit operator bool() const noexcept { return buffer_ != nullptr; }
  friend bool operator==(const BufferPtr& a, const BufferPtr& b) noexcept { return a.buffer_ == b.buffer_; }

 private:
  friend class BufferAllocator;
  explicit BufferPtr(Buffer* adopted) noexcept : buffer_(adopted) {}  // takes one reference
  Buffer* buffer_ = nullptr;
};

// Hands out buffers of one size and keeps up to `max_pooled` released ones
// for reuse; beyond that, released buffers go back to the heap.
//
// Lifecycle: created before any buffer and destroyed after the last one is
// released (a Server owns one and checks this at stop()). Thread-safe: all
// methods may be called from any thread (one mutex guards the free list;
// the counters are atomics so reading them never blocks I/O threads).
class BufferAllocator {
 public:
  BufferAllocator(std::size_t buffer_size, std::size_t max_pooled);
  ~BufferAllocator();  // frees the pool; buffers still in use are a bug (asserted)
  BufferAllocator(const BufferAllocator&) = delete;
  BufferAllocator& operator=(const BufferAllocator&) = delete;

  // An empty buffer: from the pool if one is there, else from the heap.
  // Throws std::bad_alloc if the heap is exhausted.
  BufferPtr allocate();

  std::size_t buffer_size() const noexcept { return buffer_size_; }
  std::size_t max_pooled() const noexcept { return max_pooled_; }

  // Buffers handed out and not yet released.
  std::size_t in_use() const noexcept { return in_use_.load(std::memory_order_acquire); }
  // Released buffers waiting in the pool for reuse (<= max_pooled()).
  std::size_t pooled() const noexcept { return pooled_.load(std::memory_order_acquire); }
  // allocate() calls served from the pool / from the heap, since creation.
  std::uint64_t reused() const noexcept { return reused_.load(std::memory_order_acquire); }
  std::uint64_t created() const noexcept { return created_.load(std::memory_order_acquire); }

 private:
  friend class Buffer;
  void recycle(Buffer* buffer) noexcept;

  const std::size_t buffer_size_;
  const std::size_t max_pooled_;
  std::mutex mutex_;
  std::vector<Buffer*> free_;  // guarded by mutex_
  std::atomic<std::size_t> in_use_{0};
  std::atomic<std::size_t> pooled_{0};
  std::atomic<std::uint64_t> reused_{0};
  std::atomic<std::uint64_t> created_{0};
};

}  // namespace cpf
