// The buffer pool (include/cpf/buffer.hpp): platform-neutral, shared by the
// io_uring and IOCP backends.
#include "cpf/buffer.hpp"

#include <cassert>
#include <cstring>
#include <stdexcept>

namespace cpf {

Buffer::Buffer(BufferAllocator* allocator, std::size_t capacity)
    : allocator_(allocator), storage_(new Byte[capacity]), capacity_(capacity) {}

std::span<Byte> Buffer::space() noexcept {
  if (begin_ != 0 && begin_ + size_ == capacity_) {
    // Only compact when the tail is full: a read into the tail is the common
    // case and needs no copy.
    std::memmove(storage_.get(), storage_.get() + begin_, size_);
    begin_ = 0;
  }
  return {storage_.get() + begin_ + size_, capacity_ - begin_ - size_};
}

void Buffer::commit(std::size_t n) {
  if (n > capacity_ - begin_ - size_) throw std::length_error("cpf::Buffer::commit past capacity");
  size_ += n;
}

std::size_t Buffer::append(ByteView bytes) {
  auto room = space();
  const std::size_t n = std::min(room.size(), bytes.size());
  if (n != 0) std::memcpy(room.data(), bytes.data(), n);
  size_ += n;
  return n;
}

void Buffer::consume(std::size_t n) {
  if (n > size_) throw std::length_error("cpf::Buffer::consume past the payload");
  begin_ += n;
  size_ -= n;
  if (size_ == 0) begin_ = 0;
}

void Buffer::clear() noexcept {
  begin_ = 0;
  size_ = 0;
}

BufferPtr Buffer::split(std::size_t n) {
  if (n == 0 || n > size_) throw std::length_error("cpf::Buffer::split needs 0 < n <= size()");
  BufferPtr front = allocator_->allocate();
  front->append({data(), n});
  consume(n);
  return front;
}

void Buffer::release() noexcept {
  // acq_rel: the releasing thread's writes to the bytes happen before the
  // allocator (maybe on another thread) hands the buffer out again.
  if (references_.fetch_sub(1, std::memory_order_acq_rel) == 1) allocator_->recycle(this);
}

BufferAllocator::BufferAllocator(std::size_t buffer_size, std::size_t max_pooled)
    : buffer_size_(buffer_size), max_pooled_(max_pooled) {
  if (buffer_size == 0) throw std::invalid_argument("cpf::BufferAllocator needs a buffer size above 0");
  free_.reserve(max_pooled);
}

BufferAllocator::~BufferAllocator() {
  assert(in_use() == 0 && "a cpf::Buffer outlived its allocator");
  for (Buffer* buffer : free_) delete buffer;
}

BufferPtr BufferAllocator::allocate() {
  Buffer* buffer = nullptr;
  {
    std::lock_guard lock(mutex_);
    if (!free_.empty()) {
      buffer = free_.back();
      free_.pop_back();
      pooled_.fetch_sub(1, std::memory_order_release);
    }
  }
  if (buffer != nullptr) {
    reused_.fetch_add(1, std::memory_order_relaxed);
  } else {
    buffer = new Buffer(this, buffer_size_);
    created_.fetch_add(1, std::memory_order_relaxed);
  }
  buffer->clear();
  buffer->references_.store(1, std::memory_order_relaxed);
  in_use_.fetch_add(1, std::memory_order_release);
  return BufferPtr(buffer);
}

void BufferAllocator::recycle(Buffer* buffer) noexcept {
  bool keep = false;
  {
    std::lock_guard lock(mutex_);
    if (free_.size() < max_pooled_) {
      free_.push_back(buffer);  // reserved in the constructor: cannot throw
      pooled_.fetch_add(1, std::memory_order_release);
      keep = true;
    }
  }
  in_use_.fetch_sub(1, std::memory_order_release);
  if (!keep) delete buffer;
}

}  // namespace cpf
