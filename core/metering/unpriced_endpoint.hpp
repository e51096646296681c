#pragma once

#include <string_view>

#include "core/http/canonical_path.hpp"
#include "core/provider/provider_format.hpp"

namespace spendgate::core {

/**
 * @return whether a request creates something the provider bills but spendgate cannot price:
 *         image, audio and video generation, batches, fine-tuning jobs, Realtime client secrets,
 *         sessions and calls, eval runs, containers, vector stores, Gemini's `:predict` family and
 *         cached contents. Such a request reserves nothing, but a hard budget with
 *         nothing left refuses it (a used-up budget must not be bypassed through an endpoint
 *         spendgate does not meter). Only POST creates; listings, reads and cancels are free.
 * @param method the request method as sent ("POST")
 * @param path the request path; a query part is ignored; read canonical, as classifyRequest does
 */
bool isUnpricedPaidEndpoint(ProviderFormat format, std::string_view method, std::string_view path);

/** The same for a path already read canonical. */
bool isUnpricedPaidEndpoint(ProviderFormat format,
                            std::string_view method,
                            const CanonicalPath& path);

}  // namespace spendgate::core
