/// The OpenAI error body: `{"error": {"message", "type", "param", "code"}}`, all four keys always present.
public struct APIErrorBody: Codable, Sendable, Equatable {
    public struct Detail: Codable, Sendable, Equatable {
        public var message: String
        public var type: String
        public var param: String?
        public var code: String?

        public init(message: String, type: String, param: String?, code: String?) {
            self.message = message
            self.type = type
            self.param = param
            self.code = code
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(message, forKey: .message)
            try container.encode(type, forKey: .type)
            try container.encode(param, forKey: .param)  // explicit null, never omitted
            try container.encode(code, forKey: .code)
        }
    }

    public var error: Detail

    public init(message: String, type: String, param: String? = nil, code: String? = nil) {
        error = Detail(message: message, type: type, param: param, code: code)
    }
}
