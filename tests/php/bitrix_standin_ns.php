<?php
// STAND-IN, not Bitrix: \Bitrix\Main\Security\Random and \Bitrix\Main\Web\HttpClient for the
// activity test (see bitrix_standin.php).

namespace Bitrix\Main\Security {
    class Random
    {
        public static function getString($length, $caseSensitive = false)
        {
            $alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789' . ($caseSensitive ? 'ABCDEFGHIJKLMNOPQRSTUVWXYZ' : '');
            $out = '';
            for ($i = 0; $i < $length; $i++) {
                $out .= $alphabet[random_int(0, strlen($alphabet) - 1)];
            }
            return $out;
        }
    }
}

namespace Bitrix\Main\Web {
    class HttpClient
    {
        private $options;
        private $headers = [];
        private $status = 0;
        private $error = [];

        public function __construct(array $options = [])
        {
            $this->options = $options;
        }

        public function setHeader($name, $value)
        {
            $this->headers[$name] = $value;
        }

        public function post($url, $body = null)
        {
            $dir = getenv('C2D_CAPTURE_DIR');
            if ($dir && substr($url, -strlen('/bizproc/send')) === '/bizproc/send') {
                file_put_contents($dir . '/' . uniqid('body-', true) . '.form', (string)$body);
            }
            return $this->query('POST', $url, (string)$body);
        }

        public function get($url)
        {
            return $this->query('GET', $url, null);
        }

        public function getStatus()
        {
            return $this->status;
        }

        public function getError()
        {
            return $this->error;
        }

        private function query($method, $url, $body)
        {
            $headers = '';
            foreach ($this->headers as $name => $value) {
                $headers .= "$name: $value\r\n";
            }
            $http = [
                'method' => $method,
                'header' => $headers,
                'ignore_errors' => true,
                'follow_location' => empty($this->options['redirect']) ? 0 : 1,
                'timeout' => (float)($this->options['streamTimeout'] ?? 60),
            ];
            if ($body !== null) {
                $http['content'] = $body;
            }
            $answer = @file_get_contents($url, false, stream_context_create(['http' => $http]));
            if ($answer === false && empty($http_response_header)) {
                $this->status = 0;
                $this->error = ['NETWORK' => error_get_last()['message'] ?? 'connection failed'];
                return false;
            }
            $this->status = (int)explode(' ', $http_response_header[0])[1];
            return $answer;
        }
    }
}
