fn main() {
    std::process::exit(restage::app::main());
}
