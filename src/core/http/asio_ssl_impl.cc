// The one translation unit that compiles Asio's SSL implementation
// (ASIO_SEPARATE_COMPILATION). Link berth_core_http to use asio::ssl; do not compile
// <asio/ssl/impl/src.hpp> anywhere else.
#include <asio/ssl/impl/src.hpp>
