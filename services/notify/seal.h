/* Secrets at rest: AES-256-GCM with a random 12-byte nonce, written "v1:" + base64(nonce ||
 * ciphertext || tag), under a 32-byte key read from a 0600 file owned by the running user. */
#pragma once

#include <stdint.h>

int notify_seal_key_load(const char *path, uint8_t key[32], char **ret_err); /* 0600, owner */
int notify_seal_key_write(const char *path, char **ret_err); /* new random key file */
char *notify_seal(const uint8_t key[32], const char *plaintext, const char *aad);
int notify_unseal(const uint8_t key[32], const char *sealed, const char *aad, char **ret);
/* aad = endpoint id: a sealed secret copied to another row does not open. */
