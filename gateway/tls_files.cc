#include "gateway/tls_files.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

#include "absl/strings/str_cat.h"

namespace rwkv::gateway {

namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};

}  // namespace

absl::Status CheckTlsFiles(const std::string& cert, const std::string& key) {
  std::unique_ptr<BIO, BioFree> cert_file(BIO_new_file(cert.c_str(), "r"));
  if (cert_file == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat("--tls-cert: cannot read ", cert));
  }
  std::unique_ptr<X509, X509Free> certificate(
      PEM_read_bio_X509(cert_file.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (certificate == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-cert: ", cert, " holds no PEM certificate"));
  }
  std::unique_ptr<BIO, BioFree> key_file(BIO_new_file(key.c_str(), "r"));
  if (key_file == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat("--tls-key: cannot read ", key));
  }
  // An empty passphrase: an encrypted key is refused rather than prompted for.
  char no_passphrase[] = "";
  std::unique_ptr<EVP_PKEY, KeyFree> private_key(
      PEM_read_bio_PrivateKey(key_file.get(), nullptr, nullptr, no_passphrase));
  ERR_clear_error();
  if (private_key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-key: ", key, " holds no unencrypted PEM private key"));
  }
  if (X509_check_private_key(certificate.get(), private_key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-key: ", key, " does not match the certificate in ", cert));
  }
  return absl::OkStatus();
}

}  // namespace rwkv::gateway
