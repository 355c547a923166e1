use napi_derive::napi;
#[napi]
pub fn ping() -> u32 {
    immukv_core::hello();
    1
}
