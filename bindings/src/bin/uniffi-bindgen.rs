//! The UniFFI bindgen CLI, built from the same uniffi version as the library (library mode):
//! `uniffi-bindgen generate --library target/debug/libgridwork_ffi.so --language kotlin --out-dir DIR`.
fn main() {
    uniffi::uniffi_bindgen_main()
}
