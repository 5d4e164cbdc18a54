/* SPDX-License-Identifier: MIT */
/* swap_file.h - a file-backed swap device for mmu_system (POSIX).
 *
 * Slot n lives at byte n * 4096 of the file. The file is created (or
 * truncated) by swap_file_open and sized up front, as mkswap sizes a swap
 * file, so a full disk shows at open time rather than mid-eviction.
 *
 *     swap_file sf;
 *     if (swap_file_open(&sf, "/var/tmp/guest.swap", 4096) == 0)
 *       cfg.swap = swap_file_backend(&sf);
 *     ...
 *     swap_file_close(&sf);
 */
#ifndef MMU_EXAMPLES_SWAP_FILE_H
#define MMU_EXAMPLES_SWAP_FILE_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/types.h>
#include <unistd.h>

#include "mmu.h"

typedef struct swap_file {
  int fd;
  uint64_t slots;
} swap_file;

static long swap_file_read(void *user, uint64_t slot, void *page) {
  swap_file *sf = (swap_file *)user;
  size_t done = 0;
  if (slot >= sf->slots)
    return -1;
  while (done < 4096) {
    ssize_t n = pread(sf->fd, (char *)page + done, 4096 - done,
                      (off_t)(slot * 4096 + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break; /* error or end of file: a short read the library reports */
    done += (size_t)n;
  }
  return (long)done;
}

static int swap_file_write(void *user, uint64_t slot, const void *page) {
  swap_file *sf = (swap_file *)user;
  size_t done = 0;
  if (slot >= sf->slots)
    return -1;
  while (done < 4096) {
    ssize_t n = pwrite(sf->fd, (const char *)page + done, 4096 - done,
                       (off_t)(slot * 4096 + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    done += (size_t)n;
  }
  return 0;
}

static int swap_file_open(swap_file *sf, const char *path, uint64_t slots) {
  sf->slots = slots;
  sf->fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (sf->fd < 0)
    return -1;
  if (ftruncate(sf->fd, (off_t)(slots * 4096)) != 0) {
    close(sf->fd);
    sf->fd = -1;
    return -1;
  }
  return 0;
}

static void swap_file_close(swap_file *sf) {
  if (sf->fd >= 0)
    close(sf->fd);
  sf->fd = -1;
}

static mmu_swap_backend swap_file_backend(swap_file *sf) {
  mmu_swap_backend b;
  b.read = swap_file_read;
  b.write = swap_file_write;
  b.user = sf;
  b.slots = sf->slots;
  return b;
}

#endif
