// Crash-safe file helpers: nothing half-written is ever visible under its final name.
// All functions return Internal/NotFound/PermissionDenied-style errors naming the path;
// they are thread-safe as long as callers use distinct paths.
#pragma once

#include <filesystem>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace rwkv::services {

// fsync of a regular file or a directory.
absl::Status SyncPath(const std::filesystem::path& path);

// Writes `contents` to a sibling temporary file (".NAME.tmp"), fsyncs it, renames it over
// `path` and fsyncs the directory.
absl::Status WriteFileAtomically(const std::filesystem::path& path, absl::string_view contents);

// rename(2) `from` over `to` (same filesystem) and fsync the destination directory.
absl::Status RenameDurably(const std::filesystem::path& from, const std::filesystem::path& to);

// Like RenameDurably, but never replaces `to`: AlreadyExists when it exists, decided by the
// filesystem atomically (renameat2 RENAME_NOREPLACE, or link + unlink where that is missing).
absl::Status RenameNoReplaceDurably(const std::filesystem::path& from,
                                    const std::filesystem::path& to);

// create_directories that also fsyncs every folder it creates and the folder that holds it,
// so the new folders survive a crash together with what is later renamed into them.
absl::Status CreateDirectoriesDurably(const std::filesystem::path& path);

}  // namespace rwkv::services
