#include "proxy/store/hiredis_asio_adapter.hpp"

namespace spendgate::proxy {

std::shared_ptr<HiredisAsioAdapter> HiredisAsioAdapter::attach(net::io_context& io,
                                                               redisAsyncContext* context,
                                                               CleanupHandler on_cleanup,
                                                               boost::system::error_code& ec) {
  auto adapter = std::make_shared<HiredisAsioAdapter>(io, context, std::move(on_cleanup));
  adapter->stream_.assign(context->c.fd, ec);
  if (ec) return nullptr;
  context->ev.data = adapter.get();
  context->ev.addRead = &HiredisAsioAdapter::onAddRead;
  context->ev.delRead = &HiredisAsioAdapter::onDelRead;
  context->ev.addWrite = &HiredisAsioAdapter::onAddWrite;
  context->ev.delWrite = &HiredisAsioAdapter::onDelWrite;
  context->ev.cleanup = &HiredisAsioAdapter::onCleanup;
  // A non-blocking connect completes when the socket turns writable; hiredis 0.14 only asks for
  // that once a command is queued, so ask now.
  adapter->want_write_ = true;
  adapter->armWrite();
  return adapter;
}

HiredisAsioAdapter::HiredisAsioAdapter(net::io_context& io,
                                       redisAsyncContext* context,
                                       CleanupHandler on_cleanup)
    : context_(context), stream_(io), on_cleanup_(std::move(on_cleanup)) {}

HiredisAsioAdapter::~HiredisAsioAdapter() {
  // The owner frees the context before dropping the adapter; never close hiredis' fd.
  if (stream_.is_open()) stream_.release();
}

void HiredisAsioAdapter::onAddRead(void* data) {
  auto* self = static_cast<HiredisAsioAdapter*>(data);
  self->want_read_ = true;
  self->armRead();
}

void HiredisAsioAdapter::onDelRead(void* data) {
  // An outstanding wait stays armed; its completion is ignored while want_read_ is false.
  static_cast<HiredisAsioAdapter*>(data)->want_read_ = false;
}

void HiredisAsioAdapter::onAddWrite(void* data) {
  auto* self = static_cast<HiredisAsioAdapter*>(data);
  self->want_write_ = true;
  self->armWrite();
}

void HiredisAsioAdapter::onDelWrite(void* data) {
  static_cast<HiredisAsioAdapter*>(data)->want_write_ = false;
}

void HiredisAsioAdapter::onCleanup(void* data) {
  static_cast<HiredisAsioAdapter*>(data)->cleanup();
}

void HiredisAsioAdapter::armRead() {
  if (read_waiting_ || context_ == nullptr) return;
  read_waiting_ = true;
  stream_.async_wait(net::posix::stream_descriptor::wait_read,
                     [self = shared_from_this()](const boost::system::error_code& ec) {
                       self->handleReadable(ec);
                     });
}

void HiredisAsioAdapter::armWrite() {
  if (write_waiting_ || context_ == nullptr) return;
  write_waiting_ = true;
  stream_.async_wait(net::posix::stream_descriptor::wait_write,
                     [self = shared_from_this()](const boost::system::error_code& ec) {
                       self->handleWritable(ec);
                     });
}

void HiredisAsioAdapter::handleReadable(const boost::system::error_code& ec) {
  read_waiting_ = false;
  if (ec == net::error::operation_aborted || context_ == nullptr || !want_read_) return;
  // Any other wait error is a socket error: let hiredis read it and disconnect.
  redisAsyncHandleRead(context_);
  // The call may have freed the context (cleanup() nulled context_). hiredis re-adds read
  // interest itself; this only covers a read that stopped without asking again.
  if (context_ != nullptr && want_read_) armRead();
}

void HiredisAsioAdapter::handleWritable(const boost::system::error_code& ec) {
  write_waiting_ = false;
  if (ec == net::error::operation_aborted || context_ == nullptr || !want_write_) return;
  redisAsyncHandleWrite(context_);
  // Still connecting (spurious wake-up) or a partial write: hiredis 0.14 does not re-add write
  // interest in the first case, so keep waiting while it still wants to write.
  if (context_ != nullptr && want_write_) armWrite();
}

void HiredisAsioAdapter::cleanup() {
  // Called from inside hiredis' free: the fd is closed right after this returns.
  auto keep_alive = shared_from_this();
  context_ = nullptr;
  want_read_ = want_write_ = false;
  boost::system::error_code ignored;
  stream_.cancel(ignored);
  if (stream_.is_open()) stream_.release();
  if (auto handler = std::move(on_cleanup_)) handler();
}

}  // namespace spendgate::proxy
