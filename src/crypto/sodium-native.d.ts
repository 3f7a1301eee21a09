/** Types of the two sodium-native functions this project calls; the package ships none. */
declare module 'sodium-native' {
  /** Writes the Poly1305 MAC of `input` under the 32-byte one-time `key` into `output`. */
  export function crypto_onetimeauth(output: Uint8Array, input: Uint8Array, key: Uint8Array): void;
  /** Compares two buffers of equal length in constant time. */
  export function sodium_memcmp(a: Uint8Array, b: Uint8Array): boolean;
  const sodium: {
    crypto_onetimeauth: typeof crypto_onetimeauth;
    sodium_memcmp: typeof sodium_memcmp;
  };
  export default sodium;
}
