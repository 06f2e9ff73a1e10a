// The one way this chapter includes Boost.Asio (Debian's Boost 1.74,
// header-only), so every file gets the same workaround and the same names.
//
// Why <utility> first: Asio 1.74's headers use std::exchange without
// including <utility>, which g++ 12's standard headers no longer include
// transitively; including it first keeps them compiling unchanged.
#pragma once

#include <utility>

#include <boost/asio.hpp>

namespace asio = boost::asio;
using tcp = boost::asio::ip::tcp;
